/** Step planning: decode/prefill split, DCP context gather plan, and errors naming the field. */
import { localToGlobal } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { planBatch } from './batch.js';
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
    expect([...p.cuCtx]).toEqual([0, 4, 4]);
    expect([...p.logitRows]).toEqual([2, 3, 5]);
    expect(p.maxBlocks).toBe(3);
    expect([...p.decodeBlockTable]).toEqual([2, 3, 4]);
  });

  it('plans the DCP context gather: kept rows are exactly each rank’s local tokens', () => {
    for (const [w, interleave] of [
      [2, 1],
      [4, 1],
      [2, 2],
      [4, 3],
    ] as const) {
      const ctx = [5, 0, 13];
      const p = planBatch(
        {
          positions: ctx.flatMap((c) => [c, c + 1]),
          queryLens: [2, 2, 2],
          computedLens: ctx,
          blockTables: [[0], [1], [2, 3]],
          slotMapping: [-1, -1, -1, -1, -1, -1],
        },
        { size: w, rank: 0, interleave },
        4 * w * 3,
      );
      const toks = p.cuCtxPadded[3]!;
      // decode every kept gathered row back to (request, global position)
      let k = 0;
      for (let j = 0; j < 3; j++) {
        const seen: number[] = [];
        for (let t = 0; t < ctx[j]!; t++, k++) {
          const idx = p.ctxReorg[k]!;
          const rank = Math.floor(idx / toks);
          const local = (idx % toks) - p.cuCtxPadded[j]!;
          expect(local).toBeGreaterThanOrEqual(0);
          expect(local).toBeLessThan(p.cuCtxPadded[j + 1]! - p.cuCtxPadded[j]!);
          seen.push(localToGlobal(local, { dcp: w, dcpRank: rank, interleave }));
        }
        expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: ctx[j]! }, (_, i) => i));
      }
      expect(k).toBe(p.ctxTotal);
    }
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
