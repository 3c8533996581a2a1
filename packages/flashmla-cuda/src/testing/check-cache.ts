/** GPU checks of the cache kernels (KV write, context gather): exact copies. */
import type { CudaMlaOps } from '../ops.js';
import { type CheckResult, DV, LATENT, randBf16, shuffle } from './check-util.js';
import { rng } from './reference.js';

/** KV write with slot -1 entries, exact. */
export async function kvWriteCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
  const r = rng(seed);
  const numBlocks = 10;
  const bs = 16;
  const slots = numBlocks * bs;
  const n = 50;
  const old = randBf16(slots * LATENT, r);
  const kvC = randBf16(n * DV, r);
  const kPe = randBf16(n * 64, r);
  const perm = shuffle(slots, r);
  const map = Int32Array.from({ length: n }, (_, i) => (i % 7 === 3 ? -1 : perm[i]!));
  const cache = ops.upload(old, [numBlocks, bs, LATENT], 'bf16');
  const a = ops.upload(kvC, [n, DV], 'bf16');
  const b = ops.upload(kPe, [n, 64], 'bf16');
  const m = ops.upload(map, [n], 'i32');
  ops.writeKv(a, b, m, cache);
  const got = (await ops.download(cache)) as Uint16Array;
  for (const t of [cache, a, b, m]) ops.dispose(t);
  const want = old.slice();
  for (let t = 0; t < n; t++) {
    const s = map[t]!;
    if (s < 0) continue;
    want.set(kvC.subarray(t * DV, (t + 1) * DV), s * LATENT);
    want.set(kPe.subarray(t * 64, (t + 1) * 64), s * LATENT + DV);
  }
  let bad = 0;
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) bad++;
  return { name: 'kv write (slot -1 skipped)', ok: bad === 0, err: 0, detail: `${bad} wrong elements` };
}

/** Context gather with unaligned starts and an empty request, exact. */
export async function gatherCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
  const r = rng(seed);
  const numBlocks = 40;
  const bs = 16;
  const lens = [5, 0, 37, 16, 1];
  const starts = [3, 9, 17, 0, 31];
  const batch = lens.length;
  const maxBlocks = 4;
  const cacheHost = randBf16(numBlocks * bs * LATENT, r);
  const perm = shuffle(numBlocks, r);
  const table = Int32Array.from({ length: batch * maxBlocks }, (_, i) => perm[i]!);
  const cu = new Int32Array(batch + 1);
  for (let b = 0; b < batch; b++) cu[b + 1] = cu[b]! + lens[b]!;
  const total = cu[batch]!;
  const sentinel = randBf16((total + 2) * LATENT, r);
  const cache = ops.upload(cacheHost, [numBlocks, bs, LATENT], 'bf16');
  const bt = ops.upload(table, [batch, maxBlocks], 'i32');
  const cuT = ops.upload(cu, [batch + 1], 'i32');
  const st = ops.upload(Int32Array.from(starts), [batch], 'i32');
  const dst = ops.upload(sentinel, [total + 2, LATENT], 'bf16');
  ops.gatherCache(cache, { blockTable: bt, cuSeqLens: cuT, seqStarts: st }, dst);
  const got = (await ops.download(dst)) as Uint16Array;
  for (const t of [cache, bt, cuT, st, dst]) ops.dispose(t);
  const want = sentinel.slice();
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < lens[b]!; j++) {
      const pos = starts[b]! + j;
      const blk = table[b * maxBlocks + Math.floor(pos / bs)]!;
      const src = (blk * bs + (pos % bs)) * LATENT;
      want.set(cacheHost.subarray(src, src + LATENT), (cu[b]! + j) * LATENT);
    }
  }
  let bad = 0;
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) bad++;
  return {
    name: 'context gather (unaligned starts, empty request)',
    ok: bad === 0,
    err: 0,
    detail: `${bad} wrong elements`,
  };
}
