/**
 * Dense layer kernels: embedding, RMSNorm, linear, per-head matmul, RoPE, SiLU-and-mul, add,
 * argmax, and the data-movement ops (column copy, row gather).
 */
import { numberToBf16, numberToF16, type RopeOptions, type Tensor } from '@dcp/backend';
import { axpy, gemmNT } from './gemm.js';
import type { Scratch } from './scratch.js';
import { arg, commit, expectNumel, f32, i32, lastDim, outF32, readRow } from './tensor.js';

function rowsOf(n: number, cols: number, field: string): number {
  if (cols <= 0 || n % cols !== 0) throw new RangeError(`${field}: ${n} elements are not rows of ${cols}`);
  return n / cols;
}

/** Vocab-parallel embedding lookup. */
export function embedding(ids: Tensor, table: Tensor, vocabStart: number, out: Tensor, s: Scratch): void {
  const I = i32(ids, 'embedding ids');
  const T = arg(table, 'embedding table');
  const hidden = lastDim(T);
  const vocabPart = rowsOf(T.data.length, hidden, 'embedding table');
  expectNumel(arg(out, 'embedding out'), I.length * hidden, 'embedding out', `[${I.length}, ${hidden}]`);
  const O = outF32(out, 'embedding out');
  const row = s.get('row', hidden);
  for (let t = 0; t < I.length; t++) {
    const local = I[t]! - vocabStart;
    if (local < 0 || local >= vocabPart) {
      O.fill(0, t * hidden, (t + 1) * hidden);
      continue;
    }
    readRow(T.data, T.dtype, local * hidden, hidden, row);
    O.set(row.subarray(0, hidden), t * hidden);
  }
  commit(out, O);
}

/** RMSNorm over the last dimension. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number, out: Tensor): void {
  const X = f32(x, 'rmsNorm x');
  const Wt = f32(weight, 'rmsNorm weight');
  const d = Wt.length;
  const rows = rowsOf(X.length, d, 'rmsNorm x');
  expectNumel(arg(out, 'rmsNorm out'), X.length, 'rmsNorm out', `x's shape`);
  const O = outF32(out, 'rmsNorm out');
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let ss = 0;
    for (let p = 0; p < d; p++) ss += X[o + p]! * X[o + p]!;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let p = 0; p < d; p++) O[o + p] = X[o + p]! * inv * Wt[p]!;
  }
  commit(out, O);
}

/** `out = x · Wᵀ`. */
export function linear(x: Tensor, w: Tensor, out: Tensor, s: Scratch): void {
  const Wt = arg(w, 'linear w');
  const k = lastDim(Wt);
  const m = rowsOf(Wt.data.length, k, 'linear w');
  const X = f32(x, 'linear x');
  const n = rowsOf(X.length, k, `linear x (in=${k})`);
  expectNumel(arg(out, 'linear out'), n * m, 'linear out', `[${n}, ${m}]`);
  const O = outF32(out, 'linear out');
  gemmNT(X, 0, k, n, k, Wt.data, Wt.dtype, 0, m, O, 0, m, s.get('w4', 4 * k));
  commit(out, O);
}

/** Per-head matmul (`x[t,h] · w[h]ᵀ` or `x[t,h] · w[h]`). */
export function headMatmul(x: Tensor, w: Tensor, out: Tensor, transposeW: boolean, s: Scratch): void {
  const Wt = arg(w, 'headMatmul w');
  const Ot = arg(out, 'headMatmul out');
  if (Wt.shape.length !== 3)
    throw new RangeError(`headMatmul w: must be [H, *, *], got [${Wt.shape.join(', ')}]`);
  const [H, a, b] = Wt.shape as [number, number, number];
  const k = transposeW ? b : a;
  const m = transposeW ? a : b;
  const X = f32(x, 'headMatmul x');
  const n = rowsOf(X.length, H * k, `headMatmul x ([n, ${H}, ${k}])`);
  expectNumel(Ot, n * H * m, 'headMatmul out', `[${n}, ${H}, ${m}]`);
  const O = outF32(out, 'headMatmul out');
  if (transposeW) {
    const wbuf = s.get('w4', 4 * k);
    // Head h: x rows (t·H + h)·k are strided by H·k, output rows by H·m.
    for (let h = 0; h < H; h++) {
      gemmNT(X, h * k, H * k, n, k, Wt.data, Wt.dtype, h * m * k, m, O, h * m, H * m, wbuf);
    }
  } else {
    const wh = s.get('wh', k * m);
    for (let h = 0; h < H; h++) {
      const Wh =
        Wt.dtype === 'f32' ? (Wt.data as Float32Array) : readRow(Wt.data, Wt.dtype, h * k * m, k * m, wh);
      const base = Wt.dtype === 'f32' ? h * k * m : 0;
      for (let t = 0; t < n; t++) {
        const oo = (t * H + h) * m;
        O.fill(0, oo, oo + m);
        const xo = (t * H + h) * k;
        for (let i = 0; i < k; i++) axpy(X[xo + i]!, Wh, base + i * m, O, oo, m);
      }
    }
  }
  commit(out, O);
}

/** Rotary embedding in place. */
export function rope(x: Tensor, positions: Tensor, cosSin: Tensor, o: RopeOptions, s: Scratch): void {
  const P = i32(positions, 'rope positions');
  const CS = f32(cosSin, 'rope cosSin');
  const { headDim, offset, rotDim, layout } = o;
  if (!(rotDim > 0 && rotDim % 2 === 0))
    throw new RangeError(`rope rotDim: must be even and > 0, got ${rotDim}`);
  if (!(offset >= 0 && offset + rotDim <= headDim)) {
    throw new RangeError(`rope offset: ${offset} + rotDim ${rotDim} exceeds headDim ${headDim}`);
  }
  if (CS.length % rotDim !== 0) throw new RangeError(`rope cosSin: must be [maxPositions, ${rotDim}]`);
  if (layout !== 'interleaved-to-half' && layout !== 'interleaved' && layout !== 'half') {
    throw new RangeError(
      `rope layout: must be interleaved-to-half, interleaved or half, got ${String(layout)}`,
    );
  }
  const maxPos = CS.length / rotDim;
  const X = f32(x, 'rope x');
  const rows = rowsOf(X.length, headDim, 'rope x');
  const n = P.length;
  if (n === 0) return;
  const heads = rowsOf(rows, n, `rope x (rows per token for ${n} positions)`);
  const half = rotDim / 2;
  const tmp = s.get('rope', rotDim);
  for (let t = 0; t < n; t++) {
    const pos = P[t]!;
    if (pos < 0 || pos >= maxPos)
      throw new RangeError(`rope positions[${t}]: ${pos} outside the table [0, ${maxPos})`);
    const c0 = pos * rotDim;
    for (let h = 0; h < heads; h++) {
      const b = (t * heads + h) * headDim + offset;
      for (let i = 0; i < half; i++) {
        const c = CS[c0 + i]!;
        const sn = CS[c0 + half + i]!;
        if (layout === 'half') {
          const x1 = X[b + i]!;
          const x2 = X[b + half + i]!;
          tmp[i] = x1 * c - x2 * sn;
          tmp[half + i] = x2 * c + x1 * sn;
        } else {
          const x1 = X[b + 2 * i]!;
          const x2 = X[b + 2 * i + 1]!;
          if (layout === 'interleaved') {
            tmp[2 * i] = x1 * c - x2 * sn;
            tmp[2 * i + 1] = x2 * c + x1 * sn;
          } else {
            tmp[i] = x1 * c - x2 * sn;
            tmp[half + i] = x2 * c + x1 * sn;
          }
        }
      }
      for (let i = 0; i < rotDim; i++) X[b + i] = tmp[i]!;
    }
  }
  commit(x, X);
}

/** `out = silu(gate) · up` with `x = gate ‖ up`. */
export function siluMul(x: Tensor, out: Tensor): void {
  const Ot = arg(out, 'siluMul out');
  const I = lastDim(Ot);
  const X = f32(x, 'siluMul x');
  const n = rowsOf(X.length, 2 * I, `siluMul x ([n, ${2 * I}])`);
  expectNumel(Ot, n * I, 'siluMul out', `[${n}, ${I}]`);
  const O = outF32(out, 'siluMul out');
  for (let t = 0; t < n; t++) {
    const xo = t * 2 * I;
    for (let i = 0; i < I; i++) {
      const g = X[xo + i]!;
      O[t * I + i] = (g / (1 + Math.exp(-g))) * X[xo + I + i]!;
    }
  }
  commit(out, O);
}

/** `out = a + b`. */
export function add(a: Tensor, b: Tensor, out: Tensor): void {
  const A = f32(a, 'add a');
  const B = f32(b, 'add b');
  if (A.length !== B.length) throw new RangeError(`add: a has ${A.length} elements, b has ${B.length}`);
  expectNumel(arg(out, 'add out'), A.length, 'add out', `a's shape`);
  const O = outF32(out, 'add out');
  for (let i = 0; i < A.length; i++) O[i] = A[i]! + B[i]!;
  commit(out, O);
}

/** Row-wise argmax (first index on ties; NaN never wins). */
export function argmax(x: Tensor, out: Tensor): void {
  const O = i32(out, 'argmax out');
  const X = f32(x, 'argmax x');
  const n = O.length;
  if (n === 0) return;
  const v = rowsOf(X.length, n, `argmax x (rows for out [${n}])`);
  for (let r = 0; r < n; r++) {
    let best = -1;
    let bv = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < v; j++) {
      const val = X[r * v + j]!;
      if (val > bv || (best < 0 && val === bv)) {
        bv = val;
        best = j;
      }
    }
    O[r] = Math.max(best, 0);
  }
}

/** Column copy between matrices with the same row count (casts between float dtypes). */
export function copyColumns(src: Tensor, srcCol: number, dst: Tensor, dstCol: number, width: number): void {
  const S = arg(src, 'copyColumns src');
  const D = arg(dst, 'copyColumns dst');
  const sc = lastDim(S);
  const dc = lastDim(D);
  const rows = rowsOf(S.data.length, sc, 'copyColumns src');
  if (rowsOf(D.data.length, dc, 'copyColumns dst') !== rows) {
    throw new RangeError(
      `copyColumns: src has ${rows} rows of ${sc}, dst has ${D.data.length / dc} rows of ${dc}`,
    );
  }
  if (srcCol < 0 || srcCol + width > sc)
    throw new RangeError(`copyColumns srcCol: [${srcCol}, +${width}) outside ${sc} columns`);
  if (dstCol < 0 || dstCol + width > dc)
    throw new RangeError(`copyColumns dstCol: [${dstCol}, +${width}) outside ${dc} columns`);
  if (S.dtype === D.dtype) {
    for (let r = 0; r < rows; r++) {
      D.data.set(S.data.subarray(r * sc + srcCol, r * sc + srcCol + width), r * dc + dstCol);
    }
    return;
  }
  if (S.dtype === 'i32' || D.dtype === 'i32')
    throw new TypeError(`copyColumns: cannot cast ${S.dtype} to ${D.dtype}`);
  const row = new Float32Array(width);
  for (let r = 0; r < rows; r++) {
    readRow(S.data, S.dtype, r * sc + srcCol, width, row);
    const at = r * dc + dstCol;
    if (D.dtype === 'f32') (D.data as Float32Array).set(row, at);
    else {
      const conv = D.dtype === 'bf16' ? numberToBf16 : numberToF16;
      for (let j = 0; j < width; j++) D.data[at + j] = conv(row[j]!);
    }
  }
}

/** `dst[i] = src[indices[i]]` (rows; same dtype). */
export function gatherRows(src: Tensor, indices: Tensor, dst: Tensor): void {
  const S = arg(src, 'gatherRows src');
  const D = arg(dst, 'gatherRows dst');
  const I = i32(indices, 'gatherRows indices');
  if (S.dtype !== D.dtype) throw new TypeError(`gatherRows: src is ${S.dtype}, dst is ${D.dtype}`);
  if (I.length === 0) return;
  const c = rowsOf(D.data.length, I.length, 'gatherRows dst');
  const rows = rowsOf(S.data.length, c, `gatherRows src (rows of ${c})`);
  for (let i = 0; i < I.length; i++) {
    const r = I[i]!;
    if (r < 0 || r >= rows) throw new RangeError(`gatherRows indices[${i}]: ${r} outside [0, ${rows})`);
    D.data.set(S.data.subarray(r * c, (r + 1) * c), i * c);
  }
}
