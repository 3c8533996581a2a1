import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function dcp(...args: string[]) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm build first`);
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the built dcp CLI (spawned)', () => {
  it('check-config -tp 8 -dcp 4 exits 0 and prints the groups', () => {
    const { code, stdout, stderr } = dcp('check-config', '-tp', '8', '-dcp', '4');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('world size: 8');
    expect(stdout).toContain('TP groups (1): [0,1,2,3,4,5,6,7]');
    expect(stdout).toContain('PP groups (8): [0] [1] [2] [3] [4] [5] [6] [7]');
    expect(stdout).toContain('DCP groups (2): [0,1,2,3] [4,5,6,7]');
    expect(stdout).toMatch(/^7 +0 +7 +3 +1 +\[112,128\)/m);
  });

  it('bad input exits 2 with the message and no stack trace', () => {
    for (const args of [
      ['check-config', '-tp', '6', '-dcp', '4'],
      ['check-config', '-dcp', '0'],
      ['check-config', '--no-such-flag'],
    ]) {
      const { code, stdout, stderr } = dcp(...args);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^error: /);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
    expect(dcp('check-config', '-tp=6', '-dcp=4').stderr).toContain(
      '-tp/--tensor-parallel-size 6 is not divisible by -dcp/--decode-context-parallel-size 4',
    );
  });
});

describe('the README example', () => {
  it('prints what apps/server/README.md shows', () => {
    const readme = readFileSync(join(dirname(cli), '..', 'README.md'), 'utf8');
    const command = /```sh\npnpm dcp (check-config [^\n]*)\n```/.exec(readme)?.[1];
    const shown = /checks this text\):\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(command).toBeDefined();
    expect(shown).toBeDefined();
    const { code, stdout } = dcp(...command!.split(' '));
    expect(code).toBe(0);
    expect(stdout).toBe(shown);
  });
});
