/**
 * The paged latent cache: `writeKv` (concat_and_cache_mla, slot −1 skipped) and `gatherCache`
 * (cp_gather_cache, a raw copy of cache rows). The cache may be f32, bf16 or f16 and split over
 * several buffers (`segments.ts`); both kernels reach it only through the binding helpers.
 */
import type { GatherCacheMeta, Tensor } from '@dcp/backend';
import { setWord } from './bindings.js';
import { need } from './dense.js';
import { run } from './run.js';
import { arg, count, is16, makeTensor, type Owner, type WebGpuTensor } from './tensor.js';

/** Writes `kvC[t] ‖ kPe[t]` into cache slot `slotMapping[t]` (skipping −1). */
export function writeKv(o: Owner, kvCT: Tensor, kPeT: Tensor, smT: Tensor, cacheT: Tensor): void {
  const kvC = arg(kvCT, 'writeKv kvC');
  const kPe = arg(kPeT, 'writeKv kPe');
  const sm = arg(smT, 'writeKv slotMapping');
  const cache = arg(cacheT, 'writeKv cache');
  need(sm.dtype === 'i32', `writeKv slotMapping: must be i32, got ${sm.dtype}`);
  need(cache.shape.length === 3, 'writeKv cache: must be [numBlocks, blockSize, width]');
  const n = count(sm);
  const W = cache.shape[2]!;
  const L = n === 0 ? 0 : count(kvC) / n;
  const R = n === 0 ? 0 : count(kPe) / n;
  need(Number.isInteger(L) && Number.isInteger(R), `writeKv: kvC and kPe must have ${n} rows`);
  if (n === 0) return;
  need(L + R === W, `writeKv: kvC (${L}) + kPe (${R}) columns must equal the cache width ${W}`);
  const slots = cache.shape[0]! * cache.shape[1]!;
  const params = [
    ['L', 'u', L],
    ['R', 'u', R],
    ['W', 'u', W],
    ['slots', 'i', slots],
  ] as const;
  const value = `fn val(t: u32, j: u32) -> f32 {
  if (j < p_L()) { return ld_a(t * p_L() + j); }
  return ld_b(t * p_R() + j - p_L());
}`;
  const packed = is16(cache.dtype) && !(cache.dtype === 'f16' && o.layout.nativeF16);
  if (packed && W % 2 === 0 && cache.offset % 2 === 0) {
    // Whole words per row: each invocation writes one word, no read-modify-write.
    run(o, [
      {
        binds: [
          { name: 'a', t: kvC },
          { name: 'b', t: kPe },
          { name: 's', t: sm },
          { name: 'c', t: cache, access: 'raw' },
        ],
        params,
        decl: value,
        body: `  let hw = p_W() / 2u; let t = i / hw; let q = i % hw;
  let slot = ld_s(t);
  if (slot < 0 || slot >= p_slots()) { return; }
  let word = (o_c() + u32(slot) * p_W()) / 2u + q;
  ${setWord(cache, 'c', 'word', 'to16_c(val(t, 2u * q)) | (to16_c(val(t, 2u * q + 1u)) << 16u)')}`,
        threads: n * (W / 2),
      },
    ]);
    return;
  }
  // Element writes: f32 and native f16 directly; packed 16-bit rows that share words (odd width
  // or offset) set their half of the word atomically, so neighbouring tokens may be written at once.
  run(o, [
    {
      binds: [
        { name: 'a', t: kvC },
        { name: 'b', t: kPe },
        { name: 's', t: sm },
        { name: 'c', t: cache, access: packed ? 'atomic' : 'write' },
      ],
      params,
      decl: value,
      body: `  let t = i / p_W(); let j = i % p_W();
  let slot = ld_s(t);
  if (slot < 0 || slot >= p_slots()) { return; }
  ${packed ? 'st16_c(u32(slot) * p_W() + j, to16_c(val(t, j)));' : 'st_c(u32(slot) * p_W() + j, val(t, j));'}`,
      threads: n * W,
      partial: true,
    },
  ]);
}

/** Copies cache rows of each request's local range into `dst` rows `[cu[b], cu[b+1])`. */
export function gatherCache(o: Owner, cacheT: Tensor, meta: GatherCacheMeta, dstT: Tensor): void {
  let cache = arg(cacheT, 'gatherCache cache');
  const bt = arg(meta.blockTable, 'gatherCache blockTable');
  const cu = arg(meta.cuSeqLens, 'gatherCache cuSeqLens');
  const st = meta.seqStarts ? arg(meta.seqStarts, 'gatherCache seqStarts') : null;
  let dst = arg(dstT, 'gatherCache dst');
  need(cache.shape.length === 3, 'gatherCache cache: must be [numBlocks, blockSize, width]');
  need(bt.dtype === 'i32' && bt.shape.length === 2, 'gatherCache blockTable: must be i32 [batch, maxBlocks]');
  need(
    cu.dtype === 'i32' && count(cu) === bt.shape[0]! + 1,
    `gatherCache cuSeqLens: must be i32 [${bt.shape[0]! + 1}]`,
  );
  need(
    !st || (st.dtype === 'i32' && count(st) === bt.shape[0]),
    `gatherCache seqStarts: must be i32 [${bt.shape[0]}]`,
  );
  need(dst.dtype === cache.dtype, `gatherCache dst: dtype must be the cache's ${cache.dtype}`);
  const [, B, W0] = cache.shape as [number, number, number];
  let W = W0;
  need(count(dst) % W === 0, `gatherCache dst: must be [rows, ${W}]`);
  const rows = count(dst) / W;
  const word = (t: WebGpuTensor) => makeTensor(t.storage, [count(t) / 2], 'i32', t.offset / 2, true);
  if (is16(cache.dtype) && W % 2 === 0 && cache.offset % 2 === 0 && dst.offset % 2 === 0) {
    cache = word(cache);
    dst = word(dst);
    W /= 2;
  }
  run(o, [
    {
      binds: [
        { name: 'c', t: cache },
        { name: 'bt', t: bt },
        { name: 'cu', t: cu },
        { name: 'st', t: st ?? cu },
        { name: 'd', t: dst, access: 'write' },
      ],
      params: [
        ['W', 'u', W],
        ['B', 'u', B],
        ['nb', 'u', bt.shape[0]!],
        ['mb', 'u', bt.shape[1]!],
        ['hasSt', 'u', st ? 1 : 0],
      ],
      body: `  let row = i32(i / p_W()); let c = i % p_W();
  var lo = 0u; var hi = p_nb();
  while (hi - lo > 1u) { let mid = (lo + hi) / 2u; if (ld_cu(mid) <= row) { lo = mid; } else { hi = mid; } }
  let b = lo;
  var p = u32(row - ld_cu(b));
  if (p_hasSt() == 1u) { p += u32(ld_st(b)); }
  let blk = u32(ld_bt(b * p_mb() + min(p / p_B(), p_mb() - 1u)));
  st_d(i, ld_c((blk * p_B() + p % p_B()) * p_W() + c));`,
      threads: rows * W,
    },
  ]);
}
