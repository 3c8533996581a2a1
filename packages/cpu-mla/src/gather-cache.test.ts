/**
 * The context gather (`cp_gather_cache`, vllm-dcp-tests.md §3 / dcp-spec §7.3) and the chunk
 * plan built on it.
 */

import { planContextChunks } from '@dcp/backend';
import { createRng } from '@dcp/backend/testing';
import { describe, expect, it } from 'vitest';
import { createCpuMlaBackend } from './backend.js';

describe('gatherCache (vLLM test_cp_gather_cache_mla parameters)', () => {
  // 576-wide entries, block 16, 1024 blocks, batch 8, lengths in [0, 512] (zero allowed),
  // each block-table row a fresh permutation of all blocks.
  const [W, B, NB, BATCH, MAXLEN] = [576, 16, 1024, 8, 512];

  it.each([false, true])('is a pure copy of each request’s entries (seqStarts: %s)', (withStarts) => {
    const rng = createRng(withStarts ? 11 : 10);
    const b = createCpuMlaBackend();
    const src = new Float32Array(NB * B * W);
    for (let i = 0; i < src.length; i++) src[i] = rng.normal();
    const lens = Array.from({ length: BATCH }, () => rng.int(0, MAXLEN));
    lens[2] = 0;
    const starts = Array.from({ length: BATCH }, (_, i) => (withStarts ? rng.int(0, 300) : 0) + (i % 2)); // not block-aligned
    const table = new Int32Array(BATCH * NB);
    for (let r = 0; r < BATCH; r++) table.set(rng.permutation(NB), r * NB);
    const cu = new Int32Array(BATCH + 1);
    for (let r = 0; r < BATCH; r++) cu[r + 1] = cu[r]! + lens[r]!;
    const dst = b.alloc([cu[BATCH]!, W], 'f32');
    b.gatherCache(
      b.upload(src, [NB, B, W], 'f32'),
      {
        blockTable: b.upload(table, [BATCH, NB], 'i32'),
        cuSeqLens: b.upload(cu, [BATCH + 1], 'i32'),
        seqStarts: b.upload(Int32Array.from(starts), [BATCH], 'i32'),
      },
      dst,
    );
    // Expected: token j of request r is row (s_r + j) mod B of block table[r][(s_r + j) div B].
    const want = new Float32Array(cu[BATCH]! * W);
    for (let r = 0; r < BATCH; r++) {
      for (let j = 0; j < lens[r]!; j++) {
        const p = starts[r]! + j;
        const blk = table[r * NB + Math.floor(p / B)]!;
        want.set(src.subarray((blk * B + (p % B)) * W, (blk * B + (p % B) + 1) * W), (cu[r]! + j) * W);
      }
    }
    expect((dst.data as Float32Array).every((v, i) => v === want[i])).toBe(true);
  });

  it('handles an all-empty batch and refuses a dtype mismatch', () => {
    const b = createCpuMlaBackend();
    const cache = b.alloc([2, 4, 3], 'bf16');
    const meta = { blockTable: b.alloc([2, 2], 'i32'), cuSeqLens: b.alloc([3], 'i32') };
    b.gatherCache(cache, meta, b.alloc([0, 3], 'bf16'));
    expect(() => b.gatherCache(cache, meta, b.alloc([0, 3], 'f32'))).toThrow(/same dtype/);
  });
});

describe('planContextChunks', () => {
  it('matches the spec’s worked example (I=1, W=2, ctx=5, M=4)', () => {
    const [c0, c1, extra] = planContextChunks([5], { dcp: 2, interleave: 1, chunkTokens: 4 });
    expect(extra).toBeUndefined();
    // Padded local length 3, local chunk size 2: chunk 0 gathers 2 rows per rank, chunk 1 one.
    expect(Array.from(c0!.localStarts)).toEqual([0]);
    expect(c0!.toks).toBe(2);
    expect(Array.from(c0!.reorgIndices)).toEqual([0, 1, 2, 3]); // r0 {0,2}, r1 {1,3}
    expect(Array.from(c0!.cuSeqLensK)).toEqual([0, 4]);
    expect(Array.from(c1!.localStarts)).toEqual([2]);
    expect(c1!.toks).toBe(1);
    expect(Array.from(c1!.reorgIndices)).toEqual([0]); // r0 {4}; r1 contributes nothing
    expect(Array.from(c1!.cuSeqLensK)).toEqual([0, 1]);
  });

  it('covers every context token exactly once across chunks and ranks', () => {
    const rng = createRng(3);
    for (const [w, il] of [
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 4],
      [8, 1],
    ] as const) {
      const ctx = Array.from({ length: 5 }, () => rng.int(0, 70));
      const m = il * w * rng.int(1, 4);
      const chunks = planContextChunks(ctx, { dcp: w, interleave: il, chunkTokens: m });
      expect(chunks.length).toBe(Math.ceil(Math.max(...ctx) / m));
      ctx.forEach((len, j) => {
        const got = chunks.reduce((a, c) => a + c.cuSeqLensK[j + 1]! - c.cuSeqLensK[j]!, 0);
        expect(got).toBe(len);
      });
    }
  });

  it('rejects a chunk size that is not a multiple of interleave·dcp, naming the field', () => {
    expect(() => planContextChunks([9], { dcp: 2, interleave: 2, chunkTokens: 6 })).toThrow(
      /chunkTokens: 6 must be a positive multiple of interleave·dcp = 4/,
    );
    expect(() => planContextChunks([-1], { dcp: 1, interleave: 1, chunkTokens: 4 })).toThrow(
      /contextLens\[0\]/,
    );
  });
});
