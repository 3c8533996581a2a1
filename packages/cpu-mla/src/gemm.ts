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
