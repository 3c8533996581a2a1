/**
 * The cache and attention ops of `CudaMlaOps`: KV write, context gather and MLA decode. bf16 at
 * the DeepSeek widths (512 + 64) goes to the tuned kernels, anything else to the generic ones.
 */
import type { DecodeMeta, GatherCacheMeta } from '@dcp/backend';
import { numel } from '@dcp/backend';
import type { CudaRank } from './rank.js';
import { type CudaTensor, expect, floatOnly, KV_LORA, LATENT, ROPE, viewOf } from './tensor.js';

export function writeKv(
  cuda: CudaRank,
  kvC: CudaTensor,
  kPe: CudaTensor,
  slotMapping: CudaTensor,
  cache: CudaTensor,
): void {
  expect(slotMapping, 'writeKv.slotMapping', 'i32', null);
  const n = numel(slotMapping.shape);
  floatOnly(kvC, 'writeKv.kvC');
  floatOnly(kPe, 'writeKv.kPe');
  floatOnly(cache, 'writeKv.cache');
  if (kPe.dtype !== kvC.dtype)
    throw new TypeError(`writeKv.kPe: dtype ${kPe.dtype} must equal kvC's ${kvC.dtype}`);
  expect(cache, 'writeKv.cache', cache.dtype, [null, null, null]);
  const width = cache.shape[2]!;
  const l = n === 0 ? 0 : numel(kvC.shape) / n;
  const r = n === 0 ? 0 : numel(kPe.shape) / n;
  if (n > 0 && (!Number.isInteger(l) || !Number.isInteger(r) || l + r !== width)) {
    throw new RangeError(
      `writeKv: kvC [${kvC.shape.join(', ')}] + kPe [${kPe.shape.join(', ')}] rows must fill the cache width ${width}`,
    );
  }
  const numSlots = cache.shape[0]! * cache.shape[1]!;
  const slots = viewOf(slotMapping);
  if (kvC.dtype === 'bf16' && cache.dtype === 'bf16' && l === KV_LORA && r === ROPE) {
    cuda.kvWrite({
      kvC: viewOf(kvC),
      kPe: viewOf(kPe),
      slots,
      cache: viewOf(cache),
      tokens: n,
      numSlots,
    });
    return;
  }
  if (n === 0) return;
  cuda.invoke('genericKvWrite', {
    kvC: viewOf(kvC),
    kPe: viewOf(kPe),
    slots,
    cache: viewOf(cache),
    tokens: n,
    numSlots,
    kvWidth: l,
    peWidth: r,
    inDtype: kvC.dtype,
    cacheDtype: cache.dtype,
  });
}

export function gatherCache(cuda: CudaRank, cache: CudaTensor, meta: GatherCacheMeta, dst: CudaTensor): void {
  floatOnly(cache, 'gatherCache.cache');
  expect(cache, 'gatherCache.cache', cache.dtype, [null, null, null]);
  const width = cache.shape[2]!;
  const bt = meta.blockTable as CudaTensor;
  expect(bt, 'gatherCache.blockTable', 'i32', [null, null]);
  const batch = bt.shape[0]!;
  expect(meta.cuSeqLens as CudaTensor, 'gatherCache.cuSeqLens', 'i32', [batch + 1]);
  if (meta.seqStarts) expect(meta.seqStarts as CudaTensor, 'gatherCache.seqStarts', 'i32', [batch]);
  expect(dst, 'gatherCache.dst', cache.dtype, null);
  if (width === 0 || numel(dst.shape) % width !== 0) {
    throw new RangeError(`gatherCache.dst: rows must be ${width} wide`);
  }
  const args = {
    cache: viewOf(cache),
    dst: viewOf(dst),
    blockTable: viewOf(bt),
    cuSeqLens: viewOf(meta.cuSeqLens as CudaTensor),
    batch,
    totalTokens: numel(dst.shape) / width,
    numBlocks: cache.shape[0]!,
    blockSize: cache.shape[1]!,
    maxBlocksPerSeq: Math.max(1, bt.shape[1]!),
  };
  const full = meta.seqStarts ? { ...args, seqStarts: viewOf(meta.seqStarts as CudaTensor) } : args;
  if (cache.dtype === 'bf16' && width === LATENT) cuda.contextGather(full);
  else cuda.invoke('genericGather', { ...full, width, dtype: cache.dtype });
}

export function mlaDecode(
  cuda: CudaRank,
  q: CudaTensor,
  cache: CudaTensor,
  meta: DecodeMeta,
  scale: number,
  out: CudaTensor,
  lse: CudaTensor,
): void {
  floatOnly(q, 'mlaDecode.q');
  floatOnly(cache, 'mlaDecode.cache');
  floatOnly(out, 'mlaDecode.out');
  expect(cache, 'mlaDecode.cache', cache.dtype, [null, null, null]);
  const width = cache.shape[2]!;
  expect(q, 'mlaDecode.q', q.dtype, [null, null, width]);
  const [n, h] = q.shape as [number, number];
  const bt = meta.blockTable as CudaTensor;
  expect(bt, 'mlaDecode.blockTable', 'i32', [null, null]);
  const seqLens = meta.seqLens as CudaTensor;
  expect(seqLens, 'mlaDecode.seqLens', 'i32', [n]);
  if (meta.tokenToRow) expect(meta.tokenToRow as CudaTensor, 'mlaDecode.tokenToRow', 'i32', [n]);
  else if (bt.shape[0]! < n) {
    throw new RangeError(`mlaDecode.blockTable: needs a row per token (${n}), has ${bt.shape[0]}`);
  }
  expect(out, 'mlaDecode.out', out.dtype, [n, h, null]);
  const dv = out.shape[2]!;
  if (dv > width) throw new RangeError(`mlaDecode.out: value width ${dv} exceeds the cache width ${width}`);
  expect(lse, 'mlaDecode.lse', 'f32', [n, h]);
  if (!Number.isFinite(scale)) throw new RangeError(`mlaDecode.scale: must be finite, got ${scale}`);
  const blockSize = cache.shape[1]!;
  const capacity = bt.shape[1]! * blockSize;
  const args = {
    q: viewOf(q),
    cache: viewOf(cache),
    blockTable: viewOf(bt),
    seqLens: viewOf(seqLens),
    out: viewOf(out),
    lse: viewOf(lse),
    tokens: n,
    heads: h,
    numBlocks: cache.shape[0]!,
    blockSize,
    maxBlocksPerSeq: Math.max(1, bt.shape[1]!),
    numRows: bt.shape[0]!,
    scale,
  };
  const full = meta.tokenToRow ? { ...args, tokenToRow: viewOf(meta.tokenToRow as CudaTensor) } : args;
  const fast =
    q.dtype === 'bf16' &&
    cache.dtype === 'bf16' &&
    out.dtype === 'bf16' &&
    width === LATENT &&
    dv === KV_LORA;
  if (fast) {
    // The split count is sized from the longest length when the host wrote seqLens.
    cuda.mlaDecode({
      ...full,
      maxSeqLen: Math.min(capacity, Math.max(0, seqLens.hostMax ?? capacity)),
    });
  } else {
    cuda.invoke('genericDecode', {
      ...full,
      width,
      dv,
      qDtype: q.dtype,
      cacheDtype: cache.dtype,
      outDtype: out.dtype,
    });
  }
}
