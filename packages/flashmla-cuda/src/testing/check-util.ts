/** Shared helpers of the GPU checks: tolerances, random bf16 data, output poisoning. */
import { numberToBf16 } from '@dcp/backend';
import type { CudaMlaOps } from '../ops.js';
import type { CudaTensor } from '../tensor.js';

/** One check's outcome. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Largest relative L2 error of the outputs compared (0 for exact checks). */
  err: number;
  detail: string;
}

export const TOL = 2e-2;
export const LSE_TOL = 2e-3;
export const LATENT = 576;
export const DV = 512;

/** n bf16 bit patterns drawn uniformly from [lo, hi). */
export function randBf16(n: number, r: () => number, lo = -1, hi = 1): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = numberToBf16(lo + (hi - lo) * r());
  return a;
}

/** A seeded permutation of 0..n-1. */
export function shuffle(n: number, r: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Fills a tensor's buffer from its start with 0xff bytes (NaN in bf16 and f32). */
export function poison(ops: CudaMlaOps, t: CudaTensor): void {
  ops.rank.memset({ buffer: t.buffer, byteOffset: t.byteOffset }, 0xff, t.buffer.bytes - t.byteOffset);
}

/** Worst relative LSE error; a missed -inf or any NaN is Infinity. */
export function lseErr(got: Float32Array, ref: Float64Array): number {
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
