/**
 * The matrix-multiply core: `O[i, j] = Σ_p X[i, p] · W[j, p]` (x · Wᵀ, weights in HF `[out, in]`
 * layout), four weight rows at a time so each x row is read once per block. 16-bit weights are
 * converted block by block into a scratch buffer.
 */
import type { DType, HostData } from '@dcp/backend';
import { readRow } from './tensor.js';

/**
 * `O[oOff + i·ldo + j] = Σ_p X[xOff + i·k + p] · W[wOff + j·k + p]` for `i < n`, `j < m`.
 * `wbuf` must hold at least `4·k` floats (used only for 16-bit weights).
 */
export function gemmNT(
  X: Float32Array,
  xOff: number,
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
  for (let j = 0; j < m; j += 4) {
    const rows = Math.min(4, m - j);
    let b0: number;
    if (direct) {
      b0 = wOff + j * k;
    } else {
      readRow(W, wDtype, wOff + j * k, rows * k, wbuf);
      b0 = 0;
    }
    const b1 = b0 + k;
    const b2 = b1 + k;
    const b3 = b2 + k;
    if (rows === 4) {
      for (let i = 0; i < n; i++) {
        const xo = xOff + i * k;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let p = 0; p < k; p++) {
          const xv = X[xo + p]!;
          s0 += xv * Wf[b0 + p]!;
          s1 += xv * Wf[b1 + p]!;
          s2 += xv * Wf[b2 + p]!;
          s3 += xv * Wf[b3 + p]!;
        }
        const o = oOff + i * ldo + j;
        O[o] = s0;
        O[o + 1] = s1;
        O[o + 2] = s2;
        O[o + 3] = s3;
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const br = b0 + r * k;
        for (let i = 0; i < n; i++) {
          const xo = xOff + i * k;
          let s = 0;
          for (let p = 0; p < k; p++) s += X[xo + p]! * Wf[br + p]!;
          O[oOff + i * ldo + j + r] = s;
        }
      }
    }
  }
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
 * Four dot products sharing one row: `out[k] = Σ_p a[ao + k·stride + p] · b[bo + p]` for
 * `k < 4` (loads each `b` value once for four rows).
 */
export function dot4(
  a: Float32Array,
  ao: number,
  stride: number,
  b: Float32Array,
  bo: number,
  n: number,
  out: Float64Array,
): void {
  const a1 = ao + stride;
  const a2 = a1 + stride;
  const a3 = a2 + stride;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let p = 0; p < n; p++) {
    const x = b[bo + p]!;
    s0 += a[ao + p]! * x;
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
