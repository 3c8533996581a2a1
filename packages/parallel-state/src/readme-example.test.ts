import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('README example', () => {
  it('runs against the built package and prints the documented layout', async () => {
    const script = new URL('../examples/readme.mjs', import.meta.url);
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script.pathname], { timeout: 50_000 }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('DCP groups: [[0,1,2,3],[4,5,6,7]]');
    // Block 7 of size 4: rank r of each DCP group stores positions r, r+4, r+8 at slots 28, 29, 30.
    expect(lines[1]).toBe('rank 0 dcpRank 0 heads [0,2) slots 28 -1 -1 -1 29 -1 -1 -1 30 -1');
    expect(lines[4]).toBe('rank 3 dcpRank 3 heads [6,8) slots -1 -1 -1 28 -1 -1 -1 29 -1 -1');
    expect(lines[6]).toBe('rank 5 dcpRank 1 heads [10,12) slots -1 28 -1 -1 -1 29 -1 -1 -1 30');
    expect(lines.slice(9)).toEqual([
      'thread 0 all-gather: 0 1 10 11 2 3 12 13',
      'thread 1 all-gather: 0 1 10 11 2 3 12 13',
    ]);
  }, 60_000);
});
