/**
 * The matrix-multiply core: `O[i, j] = Σ_p X[i, p] · W[j, p]` (x · Wᵀ, weights in HF `[out, in]`
 * layout), four weight rows at a time so each x row is read once per block. 16-bit weights are
 * converted block by block into a scratch buffer.
 */
import type { DType, HostData } from '@dcp/backend';
import { readRow } from './tensor.js';

/** X rows per cache block of the gemm (a block of rows is reused against every weight row). */
const NB = 64;

/**
 * `O[oOff + i·ldo + j] = Σ_p X[xOff + i·ldx + p] · W[wOff + j·k + p]` for `i < n`, `j < m`.
 * `wbuf` must hold at least `4·k` floats (used only for 16-bit weights). Blocks of NB x rows
 * go against four weight rows at a time, as 4 x rows × 2 weight rows (`dot42`; left-over x rows
 * one at a time against the four, `dot4`); each output is one sequential float64 sum over `p`.
 */
export function gemmNT(
  X: Float32Array,
  xOff: number,
  ldx: number,
  n: number,
  k: number,
  W: HostData,
  wDtype: DType,
  wOff: number,
  m: number,
  O: Float32Array,
  oOff: number,
  ldo: number,
  wbuf: Float32Array,
): void {
  const direct = wDtype === 'f32';
  const Wf = direct ? (W as Float32Array) : wbuf;
  const d8 = new Float64Array(8);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const i1 = Math.min(n, i0 + NB);
    for (let j = 0; j < m; j += 4) {
      const rows = Math.min(4, m - j);
      let b0: number;
      if (direct) {
        b0 = wOff + j * k;
      } else {
        readRow(W, wDtype, wOff + j * k, rows * k, wbuf);
        b0 = 0;
      }
      let i = i0;
      for (; i + 3 < i1; i += 4) {
        const a0 = xOff + i * ldx;
        const o = oOff + i * ldo + j;
        for (let c = 0; c < rows; c += 2) {
          // An odd last weight row pairs with itself (computed twice, stored once).
          const two = c + 1 < rows;
          const w0 = b0 + c * k;
          dot42(X, a0, a0 + ldx, a0 + 2 * ldx, a0 + 3 * ldx, Wf, w0, two ? w0 + k : w0, k, d8);
          for (let r = 0; r < 4; r++) {
            O[o + r * ldo + c] = d8[2 * r]!;
            if (two) O[o + r * ldo + c + 1] = d8[2 * r + 1]!;
          }
        }
      }
      for (; i < i1; i++) rowNT(X, xOff + i * ldx, Wf, b0, rows, k, O, oOff + i * ldo + j, d8);
    }
  }
}

/** `O[o + r] = Σ_p X[a + p] · W[b0 + r·k + p]` for `r < rows ≤ 4` (one x row, four sums). */
function rowNT(
  X: Float32Array,
  a: number,
  W: Float32Array,
  b0: number,
  rows: number,
  k: number,
  O: Float32Array,
  o: number,
  d4: Float64Array,
): void {
  // Missing weight rows repeat the last one (computed, never stored).
  const b1 = rows > 1 ? b0 + k : b0;
  const b2 = rows > 2 ? b1 + k : b1;
  const b3 = rows > 3 ? b2 + k : b2;
  dot4(W, b0, b1, b2, b3, X, a, k, d4);
  for (let r = 0; r < rows; r++) O[o + r] = d4[r]!;
}

/** Dot product of `n` floats at `a[ao..]` and `b[bo..]`, four accumulators. */
export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = 0;
  for (; p + 3 < n; p += 4) {
    s0 += a[ao + p]! * b[bo + p]!;
    s1 += a[ao + p + 1]! * b[bo + p + 1]!;
    s2 += a[ao + p + 2]! * b[bo + p + 2]!;
    s3 += a[ao + p + 3]! * b[bo + p + 3]!;
  }
  for (; p < n; p++) s0 += a[ao + p]! * b[bo + p]!;
  return s0 + s1 + s2 + s3;
}

/** `y[yo + p] += alpha · x[xo + p]` for `p < n`. */
export function axpy(
  alpha: number,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
  n: number,
): void {
  for (let p = 0; p < n; p++) y[yo + p]! += alpha * x[xo + p]!;
}

/**
 * Four dot products sharing one row: `out[k] = Σ_p a[a_k + p] · b[bo + p]` for the four rows
 * starting at `a0..a3` of `a` (loads each `b` value once for four rows).
 */
export function dot4(
  a: Float32Array,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b: Float32Array,
  bo: number,
  n: number,
  out: Float64Array,
): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let p = 0; p < n; p++) {
    const x = b[bo + p]!;
    s0 += a[a0 + p]! * x;
    s1 += a[a1 + p]! * x;
    s2 += a[a2 + p]! * x;
    s3 += a[a3 + p]! * x;
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

/** Four axpys sharing one row: `y[yo + k·stride + p] += w_k · x[xo + p]`, `k < 4`, `p < n`. */
export function axpy4(
  w0: number,
  w1: number,
  w2: number,
  w3: number,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
  stride: number,
  n: number,
): void {
  const y1 = yo + stride;
  const y2 = y1 + stride;
  const y3 = y2 + stride;
  for (let p = 0; p < n; p++) {
    const v = x[xo + p]!;
    y[yo + p]! += w0 * v;
    y[y1 + p]! += w1 * v;
    y[y2 + p]! += w2 * v;
    y[y3 + p]! += w3 * v;
  }
}

/**
 * Four rows against two: `out[2r + c] = Σ_p a[a_r + p] · b[b_c + p]` for the four rows starting
 * at `a0..a3` of `a` and the two rows `b0`, `b1` of `b`; eight sums in registers.
 */
export function dot42(
  a: Float32Array,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b: Float32Array,
  b0: number,
  b1: number,
  n: number,
  out: Float64Array,
): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t0 = 0;
  let t1 = 0;
  let t2 = 0;
  let t3 = 0;
  for (let p = 0; p < n; p++) {
    const x = b[b0 + p]!;
    const y = b[b1 + p]!;
    const q0 = a[a0 + p]!;
    const q1 = a[a1 + p]!;
    const q2 = a[a2 + p]!;
    const q3 = a[a3 + p]!;
    s0 += q0 * x;
    s1 += q1 * x;
    s2 += q2 * x;
    s3 += q3 * x;
    t0 += q0 * y;
    t1 += q1 * y;
    t2 += q2 * y;
    t3 += q3 * y;
  }
  out[0] = s0;
  out[1] = t0;
  out[2] = s1;
  out[3] = t1;
  out[4] = s2;
  out[5] = t2;
  out[6] = s3;
  out[7] = t3;
}

/**
 * Four axpys over two rows: `y[yo + r·stride + p] += w[2r]·x[x0 + p] + w[2r + 1]·x[x1 + p]` for
 * `r < 4`, `p < n` (each `y` value is loaded and stored once per two rows).
 */
export function axpy42(
  w: Float64Array,
  x: Float32Array,
  x0: number,
  x1: number,
  y: Float32Array,
  yo: number,
  stride: number,
  n: number,
): void {
  const y1 = yo + stride;
  const y2 = y1 + stride;
  const y3 = y2 + stride;
  const w00 = w[0]!;
  const w01 = w[1]!;
  const w10 = w[2]!;
  const w11 = w[3]!;
  const w20 = w[4]!;
  const w21 = w[5]!;
  const w30 = w[6]!;
  const w31 = w[7]!;
  for (let p = 0; p < n; p++) {
    const u = x[x0 + p]!;
    const v = x[x1 + p]!;
    y[yo + p]! += w00 * u + w01 * v;
    y[y1 + p]! += w10 * u + w11 * v;
    y[y2 + p]! += w20 * u + w21 * v;
    y[y3 + p]! += w30 * u + w31 * v;
  }
}
