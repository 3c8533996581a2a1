/**
 * `linear` and `headMatmul` (both on the blocked gemm) against float64 math, on row counts that
 * cross the gemm's 64-row blocks and leave 1–3 rows over, odd output widths, and 16-bit weights.
 */

import { bf16ToF32, f32ToBf16 } from '@dcp/backend';
import { createRng } from '@dcp/backend/testing';
import { describe, expect, it } from 'vitest';
import { createCpuMlaBackend } from './backend.js';

const b = createCpuMlaBackend();

/** A weight tensor and the values it holds (after bf16 rounding when `bf16`). */
function weights(v: Float64Array, shape: number[], bf16: boolean) {
  const f = Float32Array.from(v);
  if (!bf16) return { t: b.upload(f, shape, 'f32'), v: f };
  const bits = f32ToBf16(f);
  return { t: b.upload(bits, shape, 'bf16'), v: bf16ToF32(bits) };
}

describe('linear equals float64 x·Wᵀ', () => {
  it.each([
    [1, 9, 5, false],
    [7, 16, 3, false],
    [70, 33, 13, false],
    [131, 8, 6, true],
  ])('n=%i k=%i m=%i bf16=%s', (n, k, m, bf16) => {
    const rng = createRng(n * 31 + m);
    const x = Float32Array.from(rng.normals(n * k));
    const w = weights(rng.normals(m * k), [m, k], bf16);
    const out = b.alloc([n, m], 'f32');
    b.linear(b.upload(x, [n, k], 'f32'), w.t, out);
    let worst = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += x[i * k + p]! * w.v[j * k + p]!;
        worst = Math.max(worst, Math.abs((out.data as Float32Array)[i * m + j]! - s));
      }
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('headMatmul (transposed weights) equals float64 per-head x·Wᵀ', () => {
  it.each([
    [1, 3, 7, 5],
    [9, 2, 12, 7],
    [67, 4, 5, 9],
  ])('n=%i H=%i k=%i m=%i', (n, H, k, m) => {
    const rng = createRng(n * 7 + H);
    const x = Float32Array.from(rng.normals(n * H * k));
    const w = Float32Array.from(rng.normals(H * m * k));
    const out = b.alloc([n, H, m], 'f32');
    b.headMatmul(b.upload(x, [n, H, k], 'f32'), b.upload(w, [H, m, k], 'f32'), out, true);
    let worst = 0;
    for (let t = 0; t < n; t++)
      for (let h = 0; h < H; h++)
        for (let j = 0; j < m; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += x[(t * H + h) * k + p]! * w[(h * m + j) * k + p]!;
          worst = Math.max(worst, Math.abs((out.data as Float32Array)[(t * H + h) * m + j]! - s));
        }
    expect(worst).toBeLessThan(1e-5);
  });
});
