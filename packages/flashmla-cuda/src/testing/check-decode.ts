/** GPU checks of the MLA decode: random shapes, odd lengths, empty rows, a cache past 2^31. */
import type { CudaMlaOps } from '../ops.js';
import type { CudaTensor } from '../tensor.js';
import {
  type CheckResult,
  DV,
  LATENT,
  LSE_TOL,
  lseErr,
  poison,
  randBf16,
  shuffle,
  TOL,
} from './check-util.js';
import { bf16ToF64, refAttention, relError, rng } from './reference.js';

/** One decode shape of `DECODE_CASES`. */
export interface DecodeCase {
  name: string;
  heads: number;
  blockSize: number;
  lens: number[];
  splits?: number;
  shareRows?: boolean;
}

/** Decode on random inputs vs float64 (forced split count when `c.splits` is set). */
export async function decodeCase(ops: CudaMlaOps, c: DecodeCase, seed: number): Promise<CheckResult> {
  const r = rng(seed);
  const n = c.lens.length;
  const rows = c.shareRows ? 1 : n;
  const rowLen = c.shareRows ? Math.max(...c.lens) : 0;
  const maxBlocks = Math.max(1, ...c.lens.map((l) => Math.ceil(l / c.blockSize))) + 1;
  const numBlocks = rows * maxBlocks + 3;
  const cacheHost = randBf16(numBlocks * c.blockSize * LATENT, r);
  const qHost = randBf16(n * c.heads * LATENT, r);
  const perm = shuffle(numBlocks, r);
  const table = new Int32Array(rows * maxBlocks).fill(-1);
  for (let i = 0; i < rows; i++) {
    const need = Math.ceil((c.shareRows ? rowLen : c.lens[i]!) / c.blockSize);
    for (let b = 0; b < need; b++) table[i * maxBlocks + b] = perm[i * maxBlocks + b]!;
  }
  const scale = 1 / Math.sqrt(192);
  const q = ops.upload(qHost, [n, c.heads, LATENT], 'bf16');
  const cache = ops.upload(cacheHost, [numBlocks, c.blockSize, LATENT], 'bf16');
  const bt = ops.upload(table, [rows, maxBlocks], 'i32');
  const sl = ops.upload(Int32Array.from(c.lens), [n], 'i32');
  const t2r = c.shareRows ? ops.upload(new Int32Array(n), [n], 'i32') : undefined;
  const out = ops.alloc([n, c.heads, DV], 'bf16');
  const lse = ops.alloc([n, c.heads], 'f32');
  poison(ops, out);
  poison(ops, lse);
  if (c.splits === undefined) {
    ops.mlaDecode(
      q,
      cache,
      t2r ? { blockTable: bt, seqLens: sl, tokenToRow: t2r } : { blockTable: bt, seqLens: sl },
      scale,
      out,
      lse,
    );
  } else {
    const v = (t: CudaTensor) => ({ buffer: t.buffer, byteOffset: t.byteOffset });
    ops.rank.mlaDecode({
      q: v(q),
      cache: v(cache),
      blockTable: v(bt),
      seqLens: v(sl),
      out: v(out),
      lse: v(lse),
      tokens: n,
      heads: c.heads,
      numBlocks,
      blockSize: c.blockSize,
      maxBlocksPerSeq: maxBlocks,
      numRows: rows,
      scale,
      maxSeqLen: Math.max(...c.lens),
      splits: c.splits,
    });
  }
  const outHost = bf16ToF64((await ops.download(out)) as Uint16Array);
  const lseHost = (await ops.download(lse)) as Float32Array;
  for (const t of [q, cache, bt, sl, out, lse]) ops.dispose(t);
  if (t2r) ops.dispose(t2r);
  const qF = bf16ToF64(qHost);
  const cacheF = bf16ToF64(cacheHost);
  let err = 0;
  let lerr = 0;
  const details: string[] = [];
  for (let t = 0; t < n; t++) {
    const row = c.shareRows ? 0 : t;
    const ref = refAttention(
      qF,
      t * c.heads * LATENT,
      c.heads,
      LATENT,
      DV,
      c.lens[t]!,
      (j) => {
        const blk = table[row * maxBlocks + Math.floor(j / c.blockSize)]!;
        return { data: cacheF, off: (blk * c.blockSize + (j % c.blockSize)) * LATENT };
      },
      scale,
    );
    const got = outHost.subarray(t * c.heads * DV, (t + 1) * c.heads * DV);
    const e =
      c.lens[t] === 0 ? (got.every((x) => x === 0) ? 0 : Number.POSITIVE_INFINITY) : relError(got, ref.out);
    const le = lseErr(lseHost.subarray(t * c.heads, (t + 1) * c.heads), ref.lse);
    err = Math.max(err, e);
    lerr = Math.max(lerr, le);
    if (!(e <= TOL && le <= LSE_TOL))
      details.push(`token ${t} (len ${c.lens[t]}): out err ${e}, lse err ${le}`);
  }
  return {
    name: `decode ${c.name}`,
    ok: details.length === 0,
    err,
    detail: details.length ? details.join('; ') : `lse err ${lerr.toExponential(2)}`,
  };
}

/** A cache past 2^31 elements; the requests live in its last blocks (64-bit offsets). */
export async function bigCacheCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
  const rank = ops.rank;
  const bs = 64;
  const numBlocks = 58_300; // 58,300 · 64 · 576 = 2.149e9 elements > 2^31
  const heads = 16;
  const lens = [2500, 1, 0];
  const n = lens.length;
  const maxBlocks = 40;
  const cache = ops.alloc([numBlocks, bs, LATENT], 'bf16');
  rank.fillUniformBf16(cache.buffer.at(0), numBlocks * bs * LATENT, seed, -1, 1);
  const table = new Int32Array(n * maxBlocks).fill(-1);
  for (let b = 0; b < 40; b++) table[b] = numBlocks - 1 - 2 * b; // every other block from the end
  table[maxBlocks] = numBlocks - 2;
  // KV write into the very last slot of the cache, then read it back through decode (token 1).
  const r = rng(seed + 1);
  const kvC = randBf16(DV, r);
  const kPe = randBf16(64, r);
  const slot = (numBlocks - 2) * bs; // token 1's only entry: first slot of block numBlocks-2
  const kvT = ops.upload(kvC, [1, DV], 'bf16');
  const peT = ops.upload(kPe, [1, 64], 'bf16');
  const slotT = ops.upload(Int32Array.of(slot), [1], 'i32');
  ops.writeKv(kvT, peT, slotT, cache);
  const qHost = randBf16(n * heads * LATENT, r);
  const q = ops.upload(qHost, [n, heads, LATENT], 'bf16');
  const bt = ops.upload(table, [n, maxBlocks], 'i32');
  const sl = ops.upload(Int32Array.from(lens), [n], 'i32');
  const out = ops.alloc([n, heads, DV], 'bf16');
  const lse = ops.alloc([n, heads], 'f32');
  poison(ops, out);
  poison(ops, lse);
  const scale = 1 / Math.sqrt(192);
  ops.mlaDecode(q, cache, { blockTable: bt, seqLens: sl }, scale, out, lse);
  const outHost = bf16ToF64((await ops.download(out)) as Uint16Array);
  const lseHost = (await ops.download(lse)) as Float32Array;
  const blocks = new Map<number, Float64Array>();
  for (const blk of table) {
    if (blk < 0 || blocks.has(blk)) continue;
    const h = new Uint16Array(bs * LATENT);
    await rank.download(cache.buffer.at(blk * bs * LATENT * 2), h);
    blocks.set(blk, bf16ToF64(h));
  }
  for (const t of [cache, kvT, peT, slotT, q, bt, sl, out, lse]) ops.dispose(t);
  const written = blocks.get(numBlocks - 2)!;
  const expectRow = bf16ToF64(new Uint16Array([...kvC, ...kPe]));
  const writeOk = expectRow.every((x, i) => x === written[i]);
  const qF = bf16ToF64(qHost);
  let err = 0;
  let lerr = 0;
  for (let t = 0; t < n; t++) {
    const ref = refAttention(
      qF,
      t * heads * LATENT,
      heads,
      LATENT,
      DV,
      lens[t]!,
      (j) => ({
        data: blocks.get(table[t * maxBlocks + Math.floor(j / bs)]!)!,
        off: (j % bs) * LATENT,
      }),
      scale,
    );
    const got = outHost.subarray(t * heads * DV, (t + 1) * heads * DV);
    err = Math.max(err, lens[t] === 0 ? (got.every((x) => x === 0) ? 0 : Infinity) : relError(got, ref.out));
    lerr = Math.max(lerr, lseErr(lseHost.subarray(t * heads, (t + 1) * heads), ref.lse));
  }
  return {
    name: 'decode + kv write, cache of 2.149e9 elements (> 2^31)',
    ok: writeOk && err <= TOL && lerr <= LSE_TOL,
    err,
    detail: `kv write into the last blocks ${writeOk ? 'exact' : 'WRONG'}; lse err ${lerr.toExponential(2)}`,
  };
}

/** The decode shapes checked by `runGpuChecks`. */
export const DECODE_CASES: readonly DecodeCase[] = [
  { name: 'h16 b64 lens 1,0,33,1000,4097', heads: 16, blockSize: 64, lens: [1, 0, 33, 1000, 4097] },
  { name: 'h128 b64 lens 31,0,515,2049', heads: 128, blockSize: 64, lens: [31, 0, 515, 2049] },
  { name: 'h20 b16 lens 7,300,0 (odd heads, small blocks)', heads: 20, blockSize: 16, lens: [7, 300, 0] },
  {
    name: 'h64 b128 lens 1,129,3001, 7 splits forced',
    heads: 64,
    blockSize: 128,
    lens: [1, 129, 3001],
    splits: 7,
  },
  { name: 'h128 b64 lens 777,4000, 1 split forced', heads: 128, blockSize: 64, lens: [777, 4000], splits: 1 },
  { name: 'h16 b64 all empty', heads: 16, blockSize: 64, lens: [0, 0] },
  { name: 'h16 b64 one long sequence 20001', heads: 16, blockSize: 64, lens: [20001] },
  {
    name: 'h32 b64 multi-token decode (shared row, lens 90,91,92)',
    heads: 32,
    blockSize: 64,
    lens: [90, 91, 92],
    shareRows: true,
  },
];
