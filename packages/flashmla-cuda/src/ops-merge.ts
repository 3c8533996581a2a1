/** The DCP merge ops of `CudaMlaOps`: ag_rs correction and the a2a pack / combine (bf16 or f32). */
import type { CudaRank } from './rank.js';
import { type CudaTensor, expect, floatOnly, viewOf } from './tensor.js';

export function lseCorrect(
  cuda: CudaRank,
  out: CudaTensor,
  lses: CudaTensor,
  rank: number,
  base: 'e' | '2',
  globalLse: CudaTensor | null,
): void {
  floatOnly(out, 'lseCorrect.out');
  expect(out, 'lseCorrect.out', out.dtype, [null, null, null]);
  const [b, h, d] = out.shape as [number, number, number];
  expect(lses, 'lseCorrect.lses', 'f32', [null, b, h]);
  if (globalLse) expect(globalLse, 'lseCorrect.globalLse', 'f32', [b, h]);
  const world = lses.shape[0]!;
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) {
    throw new RangeError(`lseCorrect.rank: ${rank} outside [0, ${world})`);
  }
  cuda.invoke('lseCorrect', {
    out: viewOf(out),
    lses: viewOf(lses),
    globalLse: globalLse ? viewOf(globalLse) : null,
    world,
    rank,
    batch: b,
    heads: h,
    dim: d,
    base2: base === '2',
    dtype: out.dtype,
  });
}

export function lsePack(cuda: CudaRank, out: CudaTensor, lse: CudaTensor, packed: CudaTensor): void {
  floatOnly(out, 'lsePack.out');
  expect(out, 'lsePack.out', out.dtype, [null, null, null]);
  const [b, h, d] = out.shape as [number, number, number];
  const lanes = out.dtype === 'f32' ? 1 : 2;
  expect(lse, 'lsePack.lse', 'f32', [b, h]);
  expect(packed, 'lsePack.packed', out.dtype, [b, h, d + lanes]);
  const args = { out: viewOf(out), lse: viewOf(lse), packed: viewOf(packed), rows: b * h, dim: d };
  if (lanes === 2) cuda.lsePack(args);
  else cuda.invoke('lsePackF32', args);
}

export function lseCombineA2a(
  cuda: CudaRank,
  packed: CudaTensor,
  base: 'e' | '2',
  out: CudaTensor,
  outLse: CudaTensor | null,
): void {
  floatOnly(packed, 'lseCombineA2a.packed');
  expect(packed, 'lseCombineA2a.packed', packed.dtype, [null, null, null, null]);
  const [b, w, hl, dp] = packed.shape as [number, number, number, number];
  const lanes = packed.dtype === 'f32' ? 1 : 2;
  expect(out, 'lseCombineA2a.out', packed.dtype, [b, hl, dp - lanes]);
  if (outLse) expect(outLse, 'lseCombineA2a.outLse', 'f32', [b, hl]);
  const args = {
    packed: viewOf(packed),
    out: viewOf(out),
    world: w,
    batch: b,
    heads: hl,
    dim: dp - lanes,
    base2: base === '2',
  };
  const full = outLse ? { ...args, globalLse: viewOf(outLse) } : args;
  if (lanes === 2) cuda.a2aCombine(full);
  else cuda.invoke('a2aCombineF32', full);
}
