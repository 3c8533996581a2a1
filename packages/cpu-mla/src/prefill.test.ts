/**
 * The tiled prefill attention against float64 math, on shapes that exercise its edges: query
 * counts that are not multiples of four, odd head and value widths, more queries than keys
 * (causal rows that see nothing), empty requests, and several requests in one call.
 */
import { createRng } from '@dcp/backend/testing';
import { describe, expect, it } from 'vitest';
import { createCpuMlaBackend } from './backend.js';

interface Shape {
  H: number;
  dk: number;
  dr: number;
  dv: number;
  qLens: number[];
  kLens: number[];
}

function check(shape: Shape, causal: boolean, seed: number): void {
  const { H, dk, dr, dv, qLens, kLens } = shape;
  const rng = createRng(seed);
  const b = createCpuMlaBackend();
  const cuQ = [0];
  const cuK = [0];
  qLens.forEach((l, i) => {
    cuQ.push(cuQ[i]! + l);
    cuK.push(cuK[i]! + kLens[i]!);
  });
  const R = qLens.length;
  const nq = cuQ[R]!;
  const nk = cuK[R]!;
  const dq = dk + dr;
  const q = Float32Array.from(rng.normals(nq * H * dq));
  const k = Float32Array.from(rng.normals(nk * H * dk));
  const ks = Float32Array.from(rng.normals(nk * dr));
  const v = Float32Array.from(rng.normals(nk * H * dv));
  const out = b.alloc([nq, H, dv], 'f32');
  const lse = b.alloc([nq, H], 'f32');
  const scale = 0.3;
  b.attention(
    b.upload(q, [nq, H, dq], 'f32'),
    b.upload(k, [nk, H, dk], 'f32'),
    dr > 0 ? b.upload(ks, [nk, dr], 'f32') : null,
    b.upload(v, [nk, H, dv], 'f32'),
    {
      cuSeqLensQ: b.upload(Int32Array.from(cuQ), [R + 1], 'i32'),
      cuSeqLensK: b.upload(Int32Array.from(cuK), [R + 1], 'i32'),
      causal,
    },
    scale,
    out,
    lse,
  );
  const O = out.data as Float32Array;
  const L = lse.data as Float32Array;
  let worstO = 0;
  let worstL = 0;
  for (let r = 0; r < R; r++) {
    for (let i = 0; i < qLens[r]!; i++) {
      const vis = causal ? Math.max(0, Math.min(kLens[r]!, kLens[r]! - qLens[r]! + i + 1)) : kLens[r]!;
      for (let h = 0; h < H; h++) {
        const row = (cuQ[r]! + i) * H + h;
        const sc = new Float64Array(vis);
        let m = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < vis; j++) {
          const kj = cuK[r]! + j;
          let d = 0;
          for (let p = 0; p < dk; p++) d += q[row * dq + p]! * k[(kj * H + h) * dk + p]!;
          for (let p = 0; p < dr; p++) d += q[row * dq + dk + p]! * ks[kj * dr + p]!;
          sc[j] = d * scale;
          m = Math.max(m, sc[j]!);
        }
        let sum = 0;
        for (let j = 0; j < vis; j++) sum += Math.exp(sc[j]! - m);
        const wantL = vis === 0 ? Number.NEGATIVE_INFINITY : Math.log(sum) + m;
        if (vis === 0) expect(L[row]).toBe(Number.NEGATIVE_INFINITY);
        else worstL = Math.max(worstL, Math.abs(L[row]! - wantL));
        for (let c = 0; c < dv; c++) {
          let o = 0;
          for (let j = 0; j < vis; j++)
            o += (Math.exp(sc[j]! - m) / sum) * v[((cuK[r]! + j) * H + h) * dv + c]!;
          worstO = Math.max(worstO, Math.abs(O[row * dv + c]! - o));
        }
      }
    }
  }
  expect(worstO).toBeLessThan(2e-5);
  expect(worstL).toBeLessThan(2e-5);
}

const shapes: [string, Shape][] = [
  ['MLA-like widths, one long request', { H: 2, dk: 16, dr: 8, dv: 16, qLens: [37], kLens: [37] }],
  ['odd widths, no shared part', { H: 3, dk: 7, dr: 0, dv: 5, qLens: [9, 2], kLens: [13, 6] }],
  ['odd widths, shared part of 3', { H: 1, dk: 5, dr: 3, dv: 9, qLens: [6, 1, 11], kLens: [6, 4, 23] }],
  [
    'more queries than keys, empty requests',
    { H: 2, dk: 4, dr: 2, dv: 3, qLens: [7, 0, 5, 3], kLens: [3, 4, 0, 9] },
  ],
];

describe('prefill attention equals float64 attention', () => {
  for (const causal of [true, false]) {
    it.each(shapes)(`causal=${causal}: %s`, (_name, shape) => check(shape, causal, 11 + shape.qLens.length));
  }
});
