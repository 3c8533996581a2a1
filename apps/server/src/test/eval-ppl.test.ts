import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBrownEvalReference, readBrownEvalSet } from '@dcp/brown-model';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `dcp eval-ppl` end to end: the built CLI, spawned, on one window of the brown model's held-out set
 * (the whole set takes minutes on 2 cores; `dcp eval-ppl` with no flags runs it), checked against
 * the committed transformers figures; bad flags exit 2 with a message naming the flag.
 */
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'dcp-eval-ppl-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dcp(...args: string[]) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm build first`);
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeSet(name: string, windows: { doc: string; ids: number[] }[]): string {
  const path = join(tmp, name);
  const window = windows[0]!.ids.length;
  writeFileSync(
    path,
    JSON.stringify({ description: 't', tokenizer: 't', window, predictedPerWindow: window - 1, windows }),
  );
  return path;
}

describe('dcp eval-ppl (spawned)', () => {
  it('--limit 1 --json: the first window matches the transformers reference (1e-3 relative)', () => {
    const { code, stdout, stderr } = dcp('eval-ppl', '--limit', '1', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as {
      model: string;
      windows: number;
      tokens: number;
      ppl: number;
      accuracy: number;
      perWindow: { doc: string; nll: number; correct: number }[];
      reference: unknown;
    };
    const ref = readBrownEvalReference().per_window[0]!;
    expect(r.model).toBe('brown');
    expect([r.windows, r.tokens]).toEqual([1, 255]);
    expect(r.perWindow[0]!.doc).toBe(ref.doc);
    expect(Math.abs(r.perWindow[0]!.nll - ref.nll) / ref.nll).toBeLessThan(1e-3);
    const refPpl = Math.exp(ref.nll / 255);
    expect(Math.abs(r.ppl - refPpl) / refPpl).toBeLessThan(1e-3);
    // Argmax can flip on a near tie between fp32 runs; allow two of 255.
    expect(Math.abs(r.perWindow[0]!.correct - ref.correct)).toBeLessThanOrEqual(2);
    expect(r.accuracy).toBeCloseTo(r.perWindow[0]!.correct / 255, 12);
    expect(r.reference).toBeNull(); // a subset: no whole-set comparison
  });

  it('--windows FILE (text output): short windows at tp2·dcp2, no reference line', () => {
    const set = readBrownEvalSet();
    const path = writeSet(
      'short.json',
      set.windows.slice(0, 2).map((w) => ({ doc: w.doc, ids: w.ids.slice(0, 33) })),
    );
    const { code, stdout } = dcp('eval-ppl', 'brown', '--windows', path, '-tp', '2', '-dcp', '2');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^model: +brown \(tp 2, pp 1, dcp 2; float32, KV fp32\)$/m);
    expect(stdout).toMatch(/^windows: +2$/m);
    expect(stdout).toMatch(/^tokens: +64 scored predictions$/m);
    const ppl = Number(/^perplexity: +([\d.]+)/m.exec(stdout)?.[1]);
    expect(ppl).toBeGreaterThan(1);
    expect(ppl).toBeLessThan(2048);
    expect(stdout).toMatch(/^accuracy: +[\d.]+ % \(\d+ \/ 64\)$/m);
    expect(stdout).not.toMatch(/^reference:/m);
  });

  it('bad input exits 2 with one line naming the flag', () => {
    const outOfVocab = writeSet('oov.json', [{ doc: 'x', ids: [0, 5, 99_999, 7] }]);
    const notASet = join(tmp, 'not-a-set.json');
    writeFileSync(notASet, '{"window": 3}');
    for (const [args, flag] of [
      [['--limit', '0'], '--limit'],
      [['--limit', 'many'], '--limit'],
      [['--windows', join(tmp, 'missing.json')], '--windows'],
      [['--windows', notASet], '--windows'],
      [['--windows', outOfVocab], '--windows'],
      [['-tp', '3'], '-tp/--tensor-parallel-size'],
    ] as const) {
      const { code, stdout, stderr } = dcp('eval-ppl', ...args);
      expect(code, args.join(' ')).toBe(2);
      expect(stdout).toBe('');
      const last = stderr.trimEnd().split('\n').at(-1)!;
      expect(last).toMatch(/^error: /);
      expect(last).toContain(flag);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });
});
