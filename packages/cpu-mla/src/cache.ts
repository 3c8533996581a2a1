/**
 * The paged latent cache `[numBlocks, blockSize, width]`: KV writes that skip slot −1, and the
 * context gather (`cp_gather_cache`).
 */
import { f32ToBf16, f32ToF16, type GatherCacheMeta, type Tensor } from '@dcp/backend';
import type { Scratch } from './scratch.js';
import { arg, i32, lastDim, readRow } from './tensor.js';

function cacheDims(cache: Tensor, field: string): [number, number, number] {
  const C = arg(cache, field);
  if (C.shape.length !== 3)
    throw new RangeError(`${field}: must be [numBlocks, blockSize, width], got [${C.shape.join(', ')}]`);
  if (C.dtype === 'i32') throw new TypeError(`${field}: must be a float tensor`);
  return C.shape as [number, number, number];
}

/** `concat_and_cache_mla`. */
export function writeKv(kvC: Tensor, kPe: Tensor, slotMapping: Tensor, cache: Tensor, s: Scratch): void {
  const [nb, B, width] = cacheDims(cache, 'writeKv cache');
  const C = arg(cache, 'writeKv cache');
  const KC = arg(kvC, 'writeKv kvC');
  const KP = arg(kPe, 'writeKv kPe');
  const S = i32(slotMapping, 'writeKv slotMapping');
  const n = S.length;
  const L = lastDim(KC);
  const R = lastDim(KP);
  if (L + R !== width)
    throw new RangeError(`writeKv: kvC width ${L} + kPe width ${R} != cache width ${width}`);
  if (KC.data.length !== n * L) throw new RangeError(`writeKv kvC: must be [${n}, ${L}] for ${n} slots`);
  if (KP.data.length !== n * R) throw new RangeError(`writeKv kPe: must be [${n}, ${R}] for ${n} slots`);
  const row = s.get('kv-row', width);
  const rowL = row.subarray(0, L);
  const rowR = row.subarray(L, width);
  const bits = new Uint16Array(width);
  for (let t = 0; t < n; t++) {
    const slot = S[t]!;
    if (slot < 0) continue;
    if (slot >= nb * B)
      throw new RangeError(`writeKv slotMapping[${t}]: slot ${slot} outside the cache (${nb}×${B})`);
    readRow(KC.data, KC.dtype, t * L, L, rowL);
    readRow(KP.data, KP.dtype, t * R, R, rowR);
    const at = slot * width;
    if (C.dtype === 'f32') (C.data as Float32Array).set(row.subarray(0, width), at);
    else {
      if (C.dtype === 'bf16') f32ToBf16(row.subarray(0, width), bits);
      else f32ToF16(row.subarray(0, width), bits);
      (C.data as Uint16Array).set(bits, at);
    }
  }
}

/** `cp_gather_cache`: a raw copy of each request's local entries into consecutive rows. */
export function gatherCache(cache: Tensor, meta: GatherCacheMeta, dst: Tensor): void {
  const [nb, B, width] = cacheDims(cache, 'gatherCache cache');
  const C = arg(cache, 'gatherCache cache');
  const D = arg(dst, 'gatherCache dst');
  if (D.dtype !== C.dtype)
    throw new TypeError(`gatherCache: cache and dst must have the same dtype (${C.dtype} vs ${D.dtype})`);
  const BT = arg(meta.blockTable, 'gatherCache blockTable');
  const bt = i32(BT, 'gatherCache blockTable');
  const cu = i32(meta.cuSeqLens, 'gatherCache cuSeqLens');
  const batch = cu.length - 1;
  if (batch < 0) throw new RangeError('gatherCache cuSeqLens: must have batch + 1 entries');
  const starts = meta.seqStarts ? i32(meta.seqStarts, 'gatherCache seqStarts') : null;
  if (starts && starts.length !== batch)
    throw new RangeError(`gatherCache seqStarts: must have ${batch} entries`);
  if (BT.shape.length !== 2 || BT.shape[0]! < batch) {
    throw new RangeError(
      `gatherCache blockTable: must be [>= ${batch}, maxBlocks], got [${BT.shape.join(', ')}]`,
    );
  }
  const maxBlocks = BT.shape[1]!;
  const total = cu[batch]!;
  if (D.data.length < total * width)
    throw new RangeError(`gatherCache dst: needs at least [${total}, ${width}]`);
  for (let b = 0; b < batch; b++) {
    const len = cu[b + 1]! - cu[b]!;
    if (len < 0) throw new RangeError(`gatherCache cuSeqLens: decreasing at ${b}`);
    const s0 = starts ? starts[b]! : 0;
    for (let j = 0; j < len; j++) {
      const p = s0 + j;
      const vb = Math.floor(p / B);
      if (vb >= maxBlocks)
        throw new RangeError(`gatherCache: request ${b} entry ${p} beyond its ${maxBlocks} blocks`);
      const block = bt[b * maxBlocks + vb]!;
      if (block < 0 || block >= nb)
        throw new RangeError(`gatherCache blockTable[${b}][${vb}]: ${block} outside [0, ${nb})`);
      const src = (block * B + (p % B)) * width;
      D.data.set(C.data.subarray(src, src + width), (cu[b]! + j) * width);
    }
  }
}
