/** Step planning: decode/prefill split, DCP context gather plan, and errors naming the field. */
import { localToGlobal } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { planBatch, planContextChunks } from './batch.js';
import { ModelError } from './errors.js';

const noDcp = { size: 1, rank: 0, interleave: 1 };

describe('planBatch', () => {
  it('splits decode rows (one new token with context) from prefill rows, in any order', () => {
    const p = planBatch(
      {
        positions: [4, 5, 6, 9, 0, 1],
        queryLens: [3, 1, 2],
        computedLens: [4, 9, 0],
        blockTables: [[0, 1], [2, 3, 4], [5]],
        slotMapping: [0, 1, 2, 3, 4, 5],
      },
      noDcp,
      4,
    );
    expect([...p.decodeRows]).toEqual([3]);
    expect([...p.prefillRows]).toEqual([0, 1, 2, 4, 5]);
    expect(p.inOrder).toBe(false);
    expect([...p.inverseOrder]).toEqual([1, 2, 3, 0, 4, 5]);
    expect([...p.decodeLocalSeqLens]).toEqual([10]);
    expect([...p.cuQ]).toEqual([0, 3, 5]);
    expect(p.ctxChunks.length).toBe(1);
    expect([...p.ctxChunks[0]!.cuSeqLensK]).toEqual([0, 4, 4]);
    expect([...p.logitRows]).toEqual([2, 3, 5]);
    expect(p.maxBlocks).toBe(3);
    expect([...p.decodeBlockTable]).toEqual([2, 3, 4]);
  });

  it('plans the DCP context gather in chunks: every context token is kept exactly once', () => {
    for (const [w, interleave, chunk] of [
      [1, 1, 8192],
      [2, 1, 8192],
      [4, 1, 4],
      [2, 2, 3],
      [4, 3, 12],
      [2, 1, 2],
    ] as const) {
      const ctx = [5, 0, 13, 1];
      const chunks = planContextChunks(ctx, { size: w, rank: 0, interleave }, chunk);
      const seen: number[][] = ctx.map(() => []);
      for (const ch of chunks) {
        const toks = ch.localCuSeqLens[ctx.length]!;
        let k = 0;
        for (let j = 0; j < ctx.length; j++) {
          const kept = ch.cuSeqLensK[j + 1]! - ch.cuSeqLensK[j]!;
          expect(ch.localCuSeqLens[j + 1]! - ch.localCuSeqLens[j]!).toBeLessThanOrEqual(
            Math.ceil(chunk / (w * interleave)) * interleave,
          );
          for (let t = 0; t < kept; t++, k++) {
            const idx = ch.reorgIndices[k]!;
            const rank = Math.floor(idx / toks);
            const local = (idx % toks) - ch.localCuSeqLens[j]!;
            expect(local).toBeGreaterThanOrEqual(0);
            expect(local).toBeLessThan(ch.localCuSeqLens[j + 1]! - ch.localCuSeqLens[j]!);
            seen[j]!.push(localToGlobal(ch.localStarts[j]! + local, { dcp: w, dcpRank: rank, interleave }));
          }
        }
        expect(k).toBe(ch.reorgIndices.length);
      }
      ctx.forEach((c, j) => {
        expect(
          seen[j]!.sort((a, b) => a - b),
          `W${w} I${interleave} chunk ${chunk}`,
        ).toEqual(Array.from({ length: c }, (_, i) => i));
      });
    }
    expect(() => planContextChunks([3], noDcp, 0)).toThrow(/contextChunkTokens: must be an integer >= 1/);
  });

  it('rejects inconsistent batches naming the field', () => {
    const ok = {
      positions: [0, 1],
      queryLens: [2],
      computedLens: [0],
      blockTables: [[0]],
      slotMapping: [0, 1],
    };
    expect(() => planBatch({ ...ok, positions: [0, 2] }, noDcp, 4)).toThrow(
      /positions\[1\]: is 2, expected 1/,
    );
    expect(() => planBatch({ ...ok, queryLens: [0] }, noDcp, 4)).toThrow(
      /queryLens: \[0\] must be an integer >= 1/,
    );
    expect(() => planBatch({ ...ok, slotMapping: [0] }, noDcp, 4)).toThrow(
      /slotMapping: has 1 entries for 2 rows/,
    );
    expect(() => planBatch({ ...ok, computedLens: [] }, noDcp, 4)).toThrow(ModelError);
    expect(() => planBatch({ ...ok, blockTables: [[]] }, noDcp, 4)).toThrow(
      /blockTables\[0\]: has 0 blocks, needs 1/,
    );
    expect(() => planBatch({ ...ok, logitRows: [2] }, noDcp, 4)).toThrow(/logitRows: row 2 is past/);
    expect(() => planBatch({ ...ok, slotMapping: [0, -2] }, noDcp, 4)).toThrow(/slotMapping/);
  });
});
