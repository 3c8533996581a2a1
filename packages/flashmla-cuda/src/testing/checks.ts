/**
 * GPU correctness checks of every kernel against the float64 references, on fresh seeded random
 * inputs. Outputs are poisoned with NaN before each run, so an unwritten element fails.
 */
import { numberToBf16 } from '@dcp/backend';
import { CudaMlaOps } from '../ops.js';
import type { CudaRank } from '../rank.js';
import type { CudaTensor } from '../tensor.js';
import { bf16ToF64, refAttention, refCorrectionFactor, refGlobalLse, relError, rng } from './reference.js';

/** One check's outcome. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Largest relative L2 error of the outputs compared (0 for exact checks). */
  err: number;
  detail: string;
}

const TOL = 2e-2;
const LSE_TOL = 2e-3;
const LATENT = 576;
const DV = 512;

function randBf16(n: number, r: () => number, lo = -1, hi = 1): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = numberToBf16(lo + (hi - lo) * r());
  return a;
}

function shuffle(n: number, r: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function poison(ops: CudaMlaOps, t: CudaTensor): void {
  ops.rank.memset({ buffer: t.buffer, byteOffset: t.byteOffset }, 0xff, t.buffer.bytes - t.byteOffset);
}

function lseErr(got: Float32Array, ref: Float64Array): number {
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const w = ref[i]!;
    if (w === Number.NEGATIVE_INFINITY) {
      if (g !== w) return Number.POSITIVE_INFINITY;
    } else if (Number.isNaN(g)) return Number.POSITIVE_INFINITY;
    else e = Math.max(e, Math.abs(g - w) / Math.max(1, Math.abs(w)));
  }
  return e;
}

interface DecodeCase {
  name: string;
  heads: number;
  blockSize: number;
  lens: number[];
  splits?: number;
  shareRows?: boolean;
}

async function decodeCase(ops: CudaMlaOps, c: DecodeCase, seed: number): Promise<CheckResult> {
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
async function bigCacheCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
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

async function kvWriteCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
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

async function gatherCase(ops: CudaMlaOps, seed: number): Promise<CheckResult> {
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

function specialLses(w: number, rows: number, r: () => number): Float32Array {
  const l = Float32Array.from({ length: w * rows }, () => -5 + 10 * r());
  const at = (n: number, row: number) => n * rows + row;
  for (let n = 0; n < w; n++) l[at(n, 0)] = Number.NEGATIVE_INFINITY; // every shard empty
  l[at(2, 1)] = Number.NaN;
  l[at(1, 2)] = Number.POSITIVE_INFINITY;
  l[at(0, 3)] = Number.NEGATIVE_INFINITY;
  l[at(2, 4)] = Number.NEGATIVE_INFINITY;
  return l;
}

async function lseCorrectCase(ops: CudaMlaOps, seed: number, base2: boolean): Promise<CheckResult> {
  const r = rng(seed);
  const [w, b, h, d, rank] = [4, 3, 8, 512, 2];
  const rows = b * h;
  const lses = specialLses(w, rows, r);
  const outHost = randBf16(rows * d, r);
  outHost.fill(0x7fc0, 4 * d, 5 * d); // NaN partial where this rank's shard is empty (row 4)
  const out = ops.upload(outHost, [b, h, d], 'bf16');
  const l = ops.upload(lses, [w, b, h], 'f32');
  const g = ops.alloc([b, h], 'f32');
  poison(ops, g);
  ops.lseCorrect(out, l, rank, base2 ? '2' : 'e', g);
  const got = bf16ToF64((await ops.download(out)) as Uint16Array);
  const gotG = (await ops.download(g)) as Float32Array;
  for (const t of [out, l, g]) ops.dispose(t);
  const ref = new Float64Array(rows * d);
  const refG = new Float64Array(rows);
  const src = bf16ToF64(outHost);
  for (let i = 0; i < rows; i++) {
    const col = Array.from({ length: w }, (_, n) => lses[n * rows + i]!);
    const f = refCorrectionFactor(col, rank, base2);
    refG[i] = refGlobalLse(col, base2) * (base2 ? Math.LN2 : 1);
    for (let k = 0; k < d; k++) ref[i * d + k] = f === 0 ? 0 : src[i * d + k]! * f;
  }
  const e = relError(got, ref);
  const le = lseErr(gotG, refG);
  return {
    name: `lseCorrect (ag_rs), base ${base2 ? 2 : 'e'}, empty/NaN/+inf shards`,
    ok: e <= TOL && le <= LSE_TOL,
    err: e,
    detail: `global lse err ${le.toExponential(2)}`,
  };
}

async function a2aCase(ops: CudaMlaOps, seed: number, base2: boolean): Promise<CheckResult> {
  const r = rng(seed);
  const [w, b, hl, d] = [4, 2, 4, 512];
  const rows = b * hl;
  const lses = specialLses(w, rows, r); // indexed [n, b·hl]
  const parts = randBf16(w * rows * d, r); // [n, b, hl, d]
  parts.fill(0x7fc0, (0 * rows + 3) * d, (0 * rows + 4) * d); // NaN where shard 0 of row 3 is empty
  // Pack on the host as [b, w, hl, d + 2]: partial, then the f32 LSE's high and low 16 bits.
  const packedHost = new Uint16Array(b * w * hl * (d + 2));
  const bits = new Uint32Array(new Float32Array(lses).buffer);
  for (let bb = 0; bb < b; bb++)
    for (let n = 0; n < w; n++)
      for (let h = 0; h < hl; h++) {
        const row = bb * hl + h;
        const dst = ((bb * w + n) * hl + h) * (d + 2);
        packedHost.set(parts.subarray((n * rows + row) * d, (n * rows + row + 1) * d), dst);
        packedHost[dst + d] = bits[n * rows + row]! >>> 16;
        packedHost[dst + d + 1] = bits[n * rows + row]! & 0xffff;
      }
  const packed = ops.upload(packedHost, [b, w, hl, d + 2], 'bf16');
  const out = ops.alloc([b, hl, d], 'bf16');
  const g = ops.alloc([b, hl], 'f32');
  poison(ops, out);
  poison(ops, g);
  ops.lseCombineA2a(packed, base2 ? '2' : 'e', out, g);
  // lsePack on rank-0's partials must reproduce the host packing bit for bit.
  const p0 = ops.upload(parts.slice(0, rows * d), [b, hl, d], 'bf16');
  const l0 = ops.upload(lses.slice(0, rows), [b, hl], 'f32');
  const pk = ops.alloc([b, hl, d + 2], 'bf16');
  ops.lsePack(p0, l0, pk);
  const got = bf16ToF64((await ops.download(out)) as Uint16Array);
  const gotG = (await ops.download(g)) as Float32Array;
  const gotPk = (await ops.download(pk)) as Uint16Array;
  for (const t of [packed, out, g, p0, l0, pk]) ops.dispose(t);
  let packBad = 0;
  for (let bb = 0; bb < b; bb++)
    for (let h = 0; h < hl; h++) {
      const src = (bb * w * hl + h) * (d + 2);
      const dst = (bb * hl + h) * (d + 2);
      for (let k = 0; k < d + 2; k++) if (gotPk[dst + k] !== packedHost[src + k]) packBad++;
    }
  const pf = bf16ToF64(parts);
  const ref = new Float64Array(rows * d);
  const refG = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const col = Array.from({ length: w }, (_, n) => lses[n * rows + i]!);
    const G = refGlobalLse(col, base2);
    refG[i] = G * (base2 ? Math.LN2 : 1);
    for (let n = 0; n < w; n++) {
      const l = col[n]!;
      const c = Number.isNaN(l) || l === Infinity ? -Infinity : l;
      let wt = base2 ? 2 ** (c - G) : Math.exp(c - G);
      if (Number.isNaN(wt)) wt = 0;
      if (wt === 0) continue;
      for (let k = 0; k < d; k++) ref[i * d + k] = ref[i * d + k]! + wt * pf[(n * rows + i) * d + k]!;
    }
  }
  const e = relError(got, ref);
  const le = lseErr(gotG, refG);
  return {
    name: `lsePack + lseCombineA2a, base ${base2 ? 2 : 'e'}`,
    ok: e <= TOL && le <= LSE_TOL && packBad === 0,
    err: e,
    detail: `global lse err ${le.toExponential(2)}, pack ${packBad} wrong lanes`,
  };
}

/**
 * DCP end to end on one GPU: W simulated ranks each hold every W-th token of the sequences
 * (interleave 1), decode their local shard, then merge with lseCorrect (ag_rs, summing the
 * corrected partials as the reduce-scatter would) and with lsePack + lseCombineA2a; both must
 * equal the float64 attention over the whole sequence.
 */
async function dcpCase(ops: CudaMlaOps, seed: number, w: number): Promise<CheckResult> {
  const r = rng(seed);
  const [heads, bs] = [16, 64];
  const lens = [1, 700, 2 * w - 1, 0];
  const n = lens.length;
  const hl = heads / w;
  const qHost = randBf16(n * heads * LATENT, r);
  const kv = lens.map((l) => randBf16(l * LATENT, r)); // global token rows of each request
  const scale = 1 / Math.sqrt(192);
  const q = ops.upload(qHost, [n, heads, LATENT], 'bf16');
  const outs: CudaTensor[] = [];
  const lseHost: Float32Array[] = [];
  const rawHost: Uint16Array[] = [];
  for (let rank = 0; rank < w; rank++) {
    const local = lens.map((l) => Math.max(0, Math.ceil((l - rank) / w)));
    const maxBlocks = Math.max(1, ...local.map((l) => Math.ceil(l / bs)));
    const cacheHost = new Uint16Array(n * maxBlocks * bs * LATENT);
    const table = new Int32Array(n * maxBlocks);
    for (let t = 0; t < n; t++) {
      for (let b = 0; b < maxBlocks; b++) table[t * maxBlocks + b] = (n - 1 - t) * maxBlocks + b;
      for (let j = 0; j < local[t]!; j++) {
        const g = j * w + rank; // global position of local entry j
        const slot = table[t * maxBlocks + Math.floor(j / bs)]! * bs + (j % bs);
        cacheHost.set(kv[t]!.subarray(g * LATENT, (g + 1) * LATENT), slot * LATENT);
      }
    }
    const cache = ops.upload(cacheHost, [n * maxBlocks, bs, LATENT], 'bf16');
    const bt = ops.upload(table, [n, maxBlocks], 'i32');
    const sl = ops.upload(Int32Array.from(local), [n], 'i32');
    const out = ops.alloc([n, heads, DV], 'bf16');
    const lse = ops.alloc([n, heads], 'f32');
    ops.mlaDecode(q, cache, { blockTable: bt, seqLens: sl }, scale, out, lse);
    lseHost.push((await ops.download(lse)) as Float32Array);
    rawHost.push((await ops.download(out)) as Uint16Array);
    outs.push(out);
    for (const t of [cache, bt, sl, lse]) ops.dispose(t);
  }
  // ag_rs: all-gather LSE, correct in place on each rank, sum (the reduce-scatter).
  const all = new Float32Array(w * n * heads);
  for (const [i, l] of lseHost.entries()) all.set(l, i * n * heads);
  const lses = ops.upload(all, [w, n, heads], 'f32');
  const sum = new Float64Array(n * heads * DV);
  for (let rank = 0; rank < w; rank++) {
    ops.lseCorrect(outs[rank]!, lses, rank, 'e', null);
    const o = bf16ToF64((await ops.download(outs[rank]!)) as Uint16Array);
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + o[i]!;
  }
  ops.dispose(lses);
  const qF = bf16ToF64(qHost);
  const ref = new Float64Array(n * heads * DV);
  const refL = new Float64Array(n * heads);
  for (let t = 0; t < n; t++) {
    const keys = bf16ToF64(kv[t]!);
    const res = refAttention(
      qF,
      t * heads * LATENT,
      heads,
      LATENT,
      DV,
      lens[t]!,
      (j) => ({ data: keys, off: j * LATENT }),
      scale,
    );
    ref.set(res.out, t * heads * DV);
    refL.set(res.lse, t * heads);
  }
  const errAgRs = relError(sum, ref);
  // a2a for rank `me`: after the exchange it holds its head chunk of every rank's raw partial.
  const me = w - 1;
  const packedHost = new Uint16Array(n * w * hl * (DV + 2));
  const bits = new Uint32Array(new Float32Array(all).buffer);
  for (let t = 0; t < n; t++)
    for (let rank = 0; rank < w; rank++)
      for (let h = 0; h < hl; h++) {
        const hh = me * hl + h;
        const dst = ((t * w + rank) * hl + h) * (DV + 2);
        const src = (rank * n + t) * heads + hh;
        packedHost.set(rawHost[rank]!.subarray((t * heads + hh) * DV, (t * heads + hh + 1) * DV), dst);
        packedHost[dst + DV] = bits[src]! >>> 16;
        packedHost[dst + DV + 1] = bits[src]! & 0xffff;
      }
  const packed = ops.upload(packedHost, [n, w, hl, DV + 2], 'bf16');
  const mine = ops.alloc([n, hl, DV], 'bf16');
  const mineL = ops.alloc([n, hl], 'f32');
  ops.lseCombineA2a(packed, 'e', mine, mineL);
  const got = bf16ToF64((await ops.download(mine)) as Uint16Array);
  const gotL = (await ops.download(mineL)) as Float32Array;
  for (const t of [packed, mine, mineL, q, ...outs]) ops.dispose(t);
  const refMine = new Float64Array(n * hl * DV);
  const refMineL = new Float64Array(n * hl);
  for (let t = 0; t < n; t++)
    for (let h = 0; h < hl; h++) {
      const hh = me * hl + h;
      refMine.set(ref.subarray((t * heads + hh) * DV, (t * heads + hh + 1) * DV), (t * hl + h) * DV);
      refMineL[t * hl + h] = refL[t * heads + hh]!;
    }
  const errA2a = relError(got, refMine);
  const le = lseErr(gotL, refMineL);
  return {
    name: `DCP W=${w}: local decode + ag_rs and a2a merges = full attention`,
    ok: errAgRs <= TOL && errA2a <= TOL && le <= LSE_TOL,
    err: Math.max(errAgRs, errA2a),
    detail: `ag_rs err ${errAgRs.toExponential(2)}, a2a err ${errA2a.toExponential(2)}, lse err ${le.toExponential(2)}`,
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

/** Runs every check on `rank` (seeded from `seed`); includes a 4.3 GB cache unless `big` is false. */
export async function runGpuChecks(rank: CudaRank, seed = 1234, big = true): Promise<CheckResult[]> {
  const ops = new CudaMlaOps(rank);
  const out: CheckResult[] = [];
  let s = seed;
  for (const c of DECODE_CASES) out.push(await decodeCase(ops, c, s++));
  out.push(await kvWriteCase(ops, s++));
  out.push(await gatherCase(ops, s++));
  out.push(await lseCorrectCase(ops, s++, false));
  out.push(await lseCorrectCase(ops, s++, true));
  out.push(await a2aCase(ops, s++, false));
  out.push(await a2aCase(ops, s++, true));
  out.push(await dcpCase(ops, s++, 2));
  out.push(await dcpCase(ops, s++, 4));
  if (big) out.push(await bigCacheCase(ops, s++));
  await rank.synchronize();
  return out;
}
