/**
 * Attention kernels: MLA decode over the paged latent cache (absorbed form, with LSE) and the
 * two-state LSE merge (varlen prefill attention is in prefill.ts).
 */
import type { DecodeMeta, Tensor } from '@dcp/backend';
import { axpy, axpy4, axpy42, dot, dot4, dot42 } from './gemm.js';
import type { Scratch } from './scratch.js';
import { arg, commit, expectNumel, f32, i32, lastDim, outF32, readRow } from './tensor.js';

const NEG_INF = Number.NEGATIVE_INFINITY;
/** Decode tiling: cache rows per block and heads per tile (a multiple of 4). */
const KB = 32;
const HT = 16;

/** MLA decode: latent queries against this rank's cache entries. */
export function mlaDecode(
  q: Tensor,
  cache: Tensor,
  meta: DecodeMeta,
  scale: number,
  out: Tensor,
  lse: Tensor,
  s: Scratch,
): void {
  const C = arg(cache, 'mlaDecode cache');
  if (C.shape.length !== 3) throw new RangeError(`mlaDecode cache: must be [numBlocks, blockSize, width]`);
  const [nb, B, width] = C.shape as [number, number, number];
  const lens = i32(meta.seqLens, 'mlaDecode seqLens');
  const bt = i32(meta.blockTable, 'mlaDecode blockTable');
  const rowOf = meta.tokenToRow ? i32(meta.tokenToRow, 'mlaDecode tokenToRow') : null;
  const n = lens.length;
  const Q = f32(q, 'mlaDecode q');
  if (lastDim(arg(q, 'mlaDecode q')) !== width)
    throw new RangeError(`mlaDecode q: last dim must be the cache width ${width}`);
  const Lt = arg(lse, 'mlaDecode lse');
  if (Lt.dtype !== 'f32') throw new TypeError('mlaDecode lse: must be f32');
  const H = n === 0 ? 0 : Q.length / (n * width);
  if (!Number.isInteger(H)) throw new RangeError(`mlaDecode q: must be [${n}, H, ${width}]`);
  expectNumel(Lt, n * H, 'mlaDecode lse', `[${n}, ${H}]`);
  const Ot = arg(out, 'mlaDecode out');
  const L = lastDim(Ot);
  expectNumel(Ot, n * H * L, 'mlaDecode out', `[${n}, ${H}, L]`);
  if (L > width) throw new RangeError(`mlaDecode out: value width ${L} exceeds the cache width ${width}`);
  if (rowOf && rowOf.length !== n) throw new RangeError(`mlaDecode tokenToRow: must have ${n} entries`);
  const BT = arg(meta.blockTable, 'mlaDecode blockTable');
  if (BT.shape.length !== 2)
    throw new RangeError(`mlaDecode blockTable: must be [numReqs, maxBlocks], got [${BT.shape.join(', ')}]`);
  const [numRows, maxBlocks] = BT.shape as [number, number];
  if (!rowOf && numRows < n)
    throw new RangeError(`mlaDecode blockTable: ${numRows} rows for ${n} tokens (pass tokenToRow)`);
  const O = outF32(out, 'mlaDecode out');
  const LS = Lt.data as Float32Array;
  const direct = C.dtype === 'f32';
  const Cf = C.data as Float32Array;
  const kbuf = s.get('dec-k', KB * width);
  const koff = new Int32Array(KB);
  const d4 = new Float64Array(4);
  const d8 = new Float64Array(8);
  for (let t = 0; t < n; t++) {
    const len = lens[t]!;
    const row = rowOf ? rowOf[t]! : t;
    if (row < 0 || row >= numRows)
      throw new RangeError(`mlaDecode tokenToRow[${t}]: ${row} outside [0, ${numRows})`);
    if (len < 0 || len > maxBlocks * B)
      throw new RangeError(`mlaDecode seqLens[${t}]: ${len} outside [0, ${maxBlocks * B}]`);
    if (len === 0) {
      O.fill(0, t * H * L, (t + 1) * H * L);
      LS.fill(NEG_INF, t * H, (t + 1) * H);
      continue;
    }
    // Offsets (koff) of rows [j0, j0 + nj) of this token's sequence: in the cache itself for f32,
    // in a converted block buffer for 16-bit caches (the first `cols` columns).
    const loadRows = (j0: number, nj: number, cols: number): Float32Array => {
      for (let jj = 0; jj < nj; jj++) {
        const j = j0 + jj;
        const block = bt[row * maxBlocks + Math.floor(j / B)]!;
        if (block < 0 || block >= nb) {
          throw new RangeError(`mlaDecode blockTable[${row}]: block ${block} outside [0, ${nb})`);
        }
        const at = (block * B + (j % B)) * width;
        if (direct) koff[jj] = at;
        else {
          readRow(C.data, C.dtype, at, cols, kbuf.subarray(jj * width));
          koff[jj] = jj * width;
        }
      }
      return direct ? Cf : kbuf;
    };
    const S = s.get('dec-s', H * len);
    const qo = t * H * width;
    // Pass 1: scores, in blocks of KB cache rows × HT heads so both stay in cache; each row is
    // read once per four heads.
    for (let j0 = 0; j0 < len; j0 += KB) {
      const nj = Math.min(KB, len - j0);
      const K = loadRows(j0, nj, width);
      for (let h0 = 0; h0 < H; h0 += HT) {
        const h1 = Math.min(H, h0 + HT);
        let jj = 0;
        // Two cache rows × four heads at a time, then a last odd row × four heads.
        for (; jj + 1 < nj; jj += 2) {
          const ka = koff[jj]!;
          const kb = koff[jj + 1]!;
          const j = j0 + jj;
          let h = h0;
          for (; h + 3 < h1; h += 4) {
            const q = qo + h * width;
            dot42(Q, q, q + width, q + 2 * width, q + 3 * width, K, ka, kb, width, d8);
            for (let r = 0; r < 4; r++) {
              S[(h + r) * len + j] = scale * d8[2 * r]!;
              S[(h + r) * len + j + 1] = scale * d8[2 * r + 1]!;
            }
          }
          for (; h < h1; h++) {
            S[h * len + j] = scale * dot(Q, qo + h * width, K, ka, width);
            S[h * len + j + 1] = scale * dot(Q, qo + h * width, K, kb, width);
          }
        }
        if (jj < nj) {
          const ko = koff[jj]!;
          const j = j0 + jj;
          let h = h0;
          for (; h + 3 < h1; h += 4) {
            const q = qo + h * width;
            dot4(Q, q, q + width, q + 2 * width, q + 3 * width, K, ko, width, d4);
            S[h * len + j] = scale * d4[0]!;
            S[(h + 1) * len + j] = scale * d4[1]!;
            S[(h + 2) * len + j] = scale * d4[2]!;
            S[(h + 3) * len + j] = scale * d4[3]!;
          }
          for (; h < h1; h++) S[h * len + j] = scale * dot(Q, qo + h * width, K, ko, width);
        }
      }
    }
    // Softmax per head (probabilities stay in S).
    for (let h = 0; h < H; h++) {
      let m = NEG_INF;
      for (let j = 0; j < len; j++) m = Math.max(m, S[h * len + j]!);
      let sum = 0;
      for (let j = 0; j < len; j++) {
        const e = Math.exp(S[h * len + j]! - m);
        S[h * len + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < len; j++) S[h * len + j] = S[h * len + j]! * inv;
      LS[t * H + h] = Math.log(sum) + m;
    }
    // Pass 2: weighted sum of the value part (first L columns of each row).
    const oo = t * H * L;
    O.fill(0, oo, oo + H * L);
    for (let j0 = 0; j0 < len; j0 += KB) {
      const nj = Math.min(KB, len - j0);
      const V = loadRows(j0, nj, L);
      for (let h0 = 0; h0 < H; h0 += HT) {
        const h1 = Math.min(H, h0 + HT);
        let jj = 0;
        for (; jj + 1 < nj; jj += 2) {
          const va = koff[jj]!;
          const vb = koff[jj + 1]!;
          const j = j0 + jj;
          let h = h0;
          for (; h + 3 < h1; h += 4) {
            for (let r = 0; r < 4; r++) {
              d8[2 * r] = S[(h + r) * len + j]!;
              d8[2 * r + 1] = S[(h + r) * len + j + 1]!;
            }
            axpy42(d8, V, va, vb, O, oo + h * L, L, L);
          }
          for (; h < h1; h++) {
            axpy(S[h * len + j]!, V, va, O, oo + h * L, L);
            axpy(S[h * len + j + 1]!, V, vb, O, oo + h * L, L);
          }
        }
        if (jj < nj) {
          const vo = koff[jj]!;
          const j = j0 + jj;
          let h = h0;
          for (; h + 3 < h1; h += 4) {
            axpy4(
              S[h * len + j]!,
              S[(h + 1) * len + j]!,
              S[(h + 2) * len + j]!,
              S[(h + 3) * len + j]!,
              V,
              vo,
              O,
              oo + h * L,
              L,
              L,
            );
          }
          for (; h < h1; h++) axpy(S[h * len + j]!, V, vo, O, oo + h * L, L);
        }
      }
    }
  }
  commit(out, O);
}

function clean(x: number): number {
  return Number.isNaN(x) || x === Number.POSITIVE_INFINITY ? NEG_INF : x;
}

/** Merges two partial attention states by their LSE. */
export function mergeAttnStates(
  a: Tensor,
  lseA: Tensor,
  b: Tensor,
  lseB: Tensor,
  out: Tensor,
  outLse: Tensor | null,
): void {
  const A = f32(a, 'mergeAttnStates a');
  const Bv = f32(b, 'mergeAttnStates b');
  const LA = f32(lseA, 'mergeAttnStates lseA');
  const LB = f32(lseB, 'mergeAttnStates lseB');
  const rows = LA.length;
  if (LB.length !== rows) throw new RangeError('mergeAttnStates: lseA and lseB must have the same shape');
  if (A.length !== Bv.length) throw new RangeError('mergeAttnStates: a and b must have the same shape');
  const D = rows === 0 ? 0 : A.length / rows;
  if (!Number.isInteger(D))
    throw new RangeError(`mergeAttnStates a: must be [n, H, D] for lse of ${rows} rows`);
  expectNumel(arg(out, 'mergeAttnStates out'), A.length, 'mergeAttnStates out', `a's shape`);
  const OL = outLse ? arg(outLse, 'mergeAttnStates outLse') : null;
  if (OL && (OL.dtype !== 'f32' || OL.data.length !== rows))
    throw new RangeError(`mergeAttnStates outLse: must be f32 with ${rows} elements`);
  const O = outF32(out, 'mergeAttnStates out');
  for (let r = 0; r < rows; r++) {
    const la = clean(LA[r]!);
    const lb = clean(LB[r]!);
    const m = Math.max(la, lb);
    const o = r * D;
    if (m === NEG_INF) {
      O.fill(0, o, o + D);
      if (OL) (OL.data as Float32Array)[r] = NEG_INF;
      continue;
    }
    const wa = Math.exp(la - m);
    const wb = Math.exp(lb - m);
    const inv = 1 / (wa + wb);
    const fa = wa * inv;
    const fb = wb * inv;
    for (let d = 0; d < D; d++) {
      const x = fa === 0 ? 0 : fa * A[o + d]!;
      const y = fb === 0 ? 0 : fb * Bv[o + d]!;
      O[o + d] = x + y;
    }
    if (OL) (OL.data as Float32Array)[r] = Math.log(wa + wb) + m;
  }
  commit(out, O);
}
