/**
 * vLLM's combine test values (vllm-dcp-tests.md §6.1 / dcp-spec §7.6), run through `lseCombine`
 * over two simulated ranks in both modes, and through the local kernels directly.
 */
import { lseCombine } from '@dcp/backend';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { type CpuMlaBackend, cpuMlaCapabilities, createCpuMlaBackend } from './backend.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/**
 * Rank n's partial for head 0 is `outs[n]` with LSE `lses[n]` (head 1 is filler); returns rank
 * 0's merged head 0 and its global LSE (natural log).
 */
async function combine2(
  outs: number[][],
  lses: number[],
  mode: 'ag_rs' | 'a2a',
  base: 'e' | '2' = 'e',
): Promise<{ out: number[]; lse: number }> {
  const d = outs[0]!.length;
  const comms = createLocalCommunicators(2);
  const res = await Promise.all(
    [0, 1].map(async (r) => {
      const b0 = createCpuMlaBackend();
      const b: CpuMlaBackend =
        base === 'e' ? b0 : { ...b0, capabilities: { ...cpuMlaCapabilities, decodeLseBase: '2' } };
      const out = b.upload(
        Float32Array.from([...outs[r]!, ...new Array<number>(d).fill(1)]),
        [1, 2, d],
        'f32',
      );
      const lse = b.upload(Float32Array.from([lses[r]!, 0]), [1, 2], 'f32');
      const m = await lseCombine(b, comms[r]!, out, lse, { mode, returnLse: true });
      return { out: Array.from(await b.download(m.out)), lse: (await b.download(m.lse!))[0]! };
    }),
  );
  return res[0]!;
}

describe.each(['ag_rs', 'a2a'] as const)('vLLM combine numbers via lseCombine (%s)', (mode) => {
  it('equal LSE gives the mean', async () => {
    const r = await combine2(
      [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
      [0, 0],
      mode,
    );
    for (const [i, v] of r.out.entries()) expect(v).toBeCloseTo([3, 4, 5, 6][i]!, 5);
  });
  it('a dominant rank wins', async () => {
    const r = await combine2(
      [
        [0, 0],
        [1, 1],
      ],
      [-100, 0],
      mode,
    );
    for (const v of r.out) expect(Math.abs(v - 1)).toBeLessThan(1e-5);
  });
  it('an empty shard (LSE −inf) with NaN output is ignored', async () => {
    const r = await combine2([[Number.NaN], [3]], [NEG_INF, 0], mode);
    expect(r.out[0]).toBe(3);
    expect(r.lse).toBeCloseTo(0, 6);
  });
  it('is mathematically correct: [4.9242343, 6.9242343], LSE ln(e+e²) = 2.3132617', async () => {
    const r = await combine2(
      [
        [2, 4],
        [6, 8],
      ],
      [1, 2],
      mode,
    );
    expect(Math.abs(r.out[0]! - 4.9242343)).toBeLessThan(1e-4);
    expect(Math.abs(r.out[1]! - 6.9242343)).toBeLessThan(1e-4);
    expect(Math.abs(r.lse - 2.3132617)).toBeLessThan(1e-5);
  });
  it('base-2 LSE: weights 1/3 and 2/3, global log2 6 = 2.5849625 (returned as ln 6)', async () => {
    const r = await combine2(
      [
        [1, 2],
        [3, 4],
      ],
      [1, 2],
      mode,
      '2',
    );
    expect(Math.abs(r.out[0]! - 2.3333333)).toBeLessThan(1e-5);
    expect(Math.abs(r.out[1]! - 3.3333333)).toBeLessThan(1e-5);
    expect(Math.abs(r.lse / Math.LN2 - 2.5849625)).toBeLessThan(1e-5);
  });
  it('all shards empty: output 0, LSE −inf, no NaN', async () => {
    const r = await combine2(
      [
        [Number.NaN, 5],
        [Number.POSITIVE_INFINITY, 2],
      ],
      [NEG_INF, Number.NaN],
      mode,
    );
    expect(r.out).toEqual([0, 0]);
    expect(r.lse).toBe(NEG_INF);
  });
  it('a +inf or NaN LSE counts as an empty shard', async () => {
    const r = await combine2(
      [
        [7, 7],
        [2, 4],
      ],
      [Number.POSITIVE_INFINITY, 0.5],
      mode,
    );
    expect(r.out[0]).toBeCloseTo(2, 6);
    expect(r.out[1]).toBeCloseTo(4, 6);
  });
});

describe.each(['ag_rs', 'a2a'] as const)('lseCombine with no decode rows (%s)', (mode) => {
  it('returns empty tensors of the right shape on every rank', async () => {
    const comms = createLocalCommunicators(2);
    const res = await Promise.all(
      comms.map(async (comm) => {
        const b = createCpuMlaBackend();
        return lseCombine(b, comm, b.alloc([0, 4, 3], 'f32'), b.alloc([0, 4], 'f32'), {
          mode,
          returnLse: true,
        });
      }),
    );
    for (const r of res) {
      expect(r.out.shape).toEqual([0, 2, 3]);
      expect(r.lse?.shape).toEqual([0, 2]);
    }
  });
});

describe('lseCombine with one rank', () => {
  it('returns the input unchanged (single_rank)', async () => {
    const b = createCpuMlaBackend();
    const [comm] = createLocalCommunicators(1);
    const vals = Float32Array.from({ length: 2 * 4 * 8 }, (_, i) => Math.sin(i));
    const out = b.upload(vals, [2, 4, 8], 'f32');
    const lse = b.upload(
      Float32Array.from({ length: 8 }, (_, i) => i / 3),
      [2, 4],
      'f32',
    );
    const m = await lseCombine(b, comm!, out, lse, { returnLse: true });
    expect(Array.from(await b.download(m.out))).toEqual(Array.from(vals));
    expect(m.out.shape).toEqual([2, 4, 8]);
  });
  it('rejects heads not divisible by the group size, naming both', async () => {
    const b = createCpuMlaBackend();
    const comms = createLocalCommunicators(2);
    const out = b.alloc([1, 3, 4], 'f32');
    const lse = b.alloc([1, 3], 'f32');
    await expect(lseCombine(b, comms[0]!, out, lse)).rejects.toThrow(
      /H=3 must be divisible by the DCP world size 2/,
    );
  });
  it('rejects an LSE of the wrong shape', async () => {
    const b = createCpuMlaBackend();
    const [comm] = createLocalCommunicators(1);
    await expect(lseCombine(b, comm!, b.alloc([1, 2, 4], 'f32'), b.alloc([2, 2], 'f32'))).rejects.toThrow(
      /lse must be \[1, 2\]/,
    );
  });
});

describe('the a2a pack keeps the f32 LSE bit for bit in 16-bit lanes', () => {
  it.each(['bf16', 'f16'] as const)('%s', (dt) => {
    const b = createCpuMlaBackend();
    const lseVals = Float32Array.from([1.2345678, -3.75e-3, NEG_INF]);
    const out = b.alloc([1, 3, 2], dt);
    const packed = b.alloc([1, 3, 4], dt);
    b.lsePack(out, b.upload(lseVals, [1, 3], 'f32'), packed);
    const p = packed.data as Uint16Array;
    const u = new Uint32Array(3);
    for (let h = 0; h < 3; h++) u[h] = ((p[h * 4 + 2]! << 16) | p[h * 4 + 3]!) >>> 0;
    expect(Array.from(new Float32Array(u.buffer))).toEqual(Array.from(lseVals));
  });
});
