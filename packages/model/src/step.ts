import type { Tensor } from '@dcp/backend';
import type { BatchPlan } from './batch.js';
import type { StepTensors } from './context.js';
import { type RopeTables, ropeCosSin } from './rope.js';
import type { Scope } from './scope.js';

/**
 * Uploads a step's metadata once (shared by every layer): the cos/sin rows of this step's
 * positions (`[T, rope]`, cos then sin), slot mapping, decode and prefill row sets, block tables,
 * and each context chunk's gather plan.
 */
export function uploadStep<T extends Tensor, B>(
  s: Scope<T, B>,
  plan: BatchPlan,
  tables: RopeTables,
  rope: number,
): StepTensors<T> {
  const t = plan.numTokens;
  const { cos, sin } = ropeCosSin(tables, plan.positions);
  const half = rope / 2;
  const table = new Float32Array(t * rope);
  for (let r = 0; r < t; r++) {
    table.set(cos.subarray(r * half, (r + 1) * half), r * rope);
    table.set(sin.subarray(r * half, (r + 1) * half), r * rope + half);
  }
  const i32 = (a: Int32Array, shape: number[] = [a.length]) => s.upload(a, shape, 'i32');
  const opt = (a: Int32Array, shape?: number[]) => (a.length > 0 ? i32(a, shape) : null);
  const nd = plan.decodeRows.length;
  const npr = plan.numPrefillReqs;
  return {
    ropeRows: i32(Int32Array.from({ length: t }, (_, i) => i)),
    cosSin: s.upload(table, [t, rope], 'f32'),
    slotMapping: i32(plan.slotMapping),
    zeros: i32(new Int32Array(t)),
    decodeRows: opt(plan.decodeRows),
    decodeBlockTable: nd > 0 ? i32(plan.decodeBlockTable, [nd, plan.maxBlocks]) : null,
    decodeSeqLens: opt(plan.decodeLocalSeqLens),
    prefillRows: opt(plan.prefillRows),
    cuQ: npr > 0 ? i32(plan.cuQ) : null,
    prefillBlockTable: npr > 0 ? i32(plan.prefillBlockTable, [npr, plan.maxBlocks]) : null,
    ctxChunks: plan.ctxChunks.map((ch) => ({
      seqStarts: i32(ch.localStarts),
      cuPadded: i32(ch.localCuSeqLens),
      cuKept: i32(ch.cuSeqLensK),
      reorg: opt(ch.reorgIndices),
      padded: ch.toks,
      kept: ch.reorgIndices.length,
    })),
    inverseOrder: plan.inOrder ? null : i32(plan.inverseOrder),
  };
}
