/**
 * The matmul kernels at shapes the conformance suite's small cases do not reach: the GEMV path
 * (k long enough for its unrolled main loop and tail, 1–8 rows, every weight dtype, offset views,
 * several tunings, with and without subgroup reductions), the tiled path (rows and columns across
 * several 64/128 tiles, odd k), per-head products in both orientations, and the grouped MoE
 * experts in both kernels (several tiles per expert, experts of other ranks). Every result is
 * compared with float64 math on the values the device holds.
 */
import type { DType } from '@dcp/backend';
import { createRng, decode, encode } from '@dcp/backend/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { MatmulOptions } from './matmul.js';
import { platformDescriptor } from './node.js';
import type { WebGpuTensor } from './tensor.js';
import { adapterOrSkip } from './test-adapter.js';

const descriptor = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(descriptor);
const rng = createRng(20261128);
type B = Awaited<ReturnType<typeof descriptor.create>>;

function put(
  b: B,
  values: Float64Array,
  shape: number[],
  dtype: DType,
): { t: WebGpuTensor; v: Float64Array } {
  const e = encode(values, dtype);
  return { t: b.upload(e.data, shape, dtype), v: e.stored };
}

/** `|got − want| ≤ tol · Σ|terms|` element by element (`mag` holds the Σ|terms|). */
async function expectNear(b: B, out: WebGpuTensor, want: Float64Array, mag: Float64Array, tol: number) {
  const got = decode(await b.download(out), out.dtype);
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (mag[i]! + 1e-30));
  }
  expect(worst).toBeLessThan(tol);
}

/** float64 `x[n, k] · w[m, k]ᵀ` and Σ|x·w| per output. */
function refLinear(x: Float64Array, w: Float64Array, n: number, k: number, m: number) {
  const want = new Float64Array(n * m);
  const mag = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      let a = 0;
      for (let q = 0; q < k; q++) {
        const p = x[i * k + q]! * w[j * k + q]!;
        s += p;
        a += Math.abs(p);
      }
      want[i * m + j] = s;
      mag[i * m + j] = a;
    }
  return { want, mag };
}

const tolOf = (dt: DType) => (dt === 'f32' ? 1e-5 : 2 ** -7);

describe.skipIf(!adapter)('webgpu-mla matmul kernels', () => {
  afterAll(() => descriptor.close());

  async function linearCase(
    o: Partial<MatmulOptions>,
    n: number,
    k: number,
    m: number,
    xd: DType,
    wd: DType,
    outD: DType = 'f32',
  ) {
    const b = await descriptor.create({ config: undefined as never });
    b.setMatmulOptions(o);
    const x = put(b, rng.normals(n * k), [n, k], xd);
    const w = put(b, rng.normals(m * k, 0.1), [m, k], wd);
    const out = b.alloc([n, m], outD);
    b.linear(x.t, w.t, out);
    const r = refLinear(x.v, w.v, n, k, m);
    await expectNear(b, out, r.want, r.mag, tolOf(outD));
    b.destroy();
  }

  const pairs: [DType, DType][] = [
    ['f32', 'bf16'],
    ['bf16', 'bf16'],
    ['f16', 'f16'],
    ['f32', 'f32'],
    ['bf16', 'f32'],
  ];
  for (const [xd, wd] of pairs) {
    it(`GEMV linear x=${xd} w=${wd}, 1/5/8 rows, k=1040 (main loop + tail)`, async () => {
      for (const n of [1, 5, 8]) await linearCase({}, n, 1040, 13, xd, wd);
    });
  }

  it('GEMV tunings: threads, rows per workgroup, unroll, tree reduction without subgroups', async () => {
    const tunings: Partial<MatmulOptions>[] = [
      { gemvThreads: 64, gemvRows: 1, gemvUnroll: 1 },
      { gemvThreads: 256, gemvRows: 8, gemvUnroll: 4 },
      { gemvThreads: 64, gemvRows: 3, gemvUnroll: 2, subgroups: false },
    ];
    for (const t of tunings) await linearCase(t, 3, 2056, 11, 'f32', 'bf16');
  });

  it('GEMV on offset views: x at an odd 16-bit offset, w rows from the middle of a tensor', async () => {
    const b = await descriptor.create({ config: undefined as never });
    const [n, k, m] = [4, 520, 9];
    const xs = put(b, rng.normals(n * k + 1), [n * k + 1], 'bf16');
    const ws = put(b, rng.normals((m + 3) * k, 0.1), [m + 3, k], 'bf16');
    const x = b.reshape(b.sliceRows(xs.t, 1, n * k), [n, k]);
    const w = b.sliceRows(ws.t, 2, m);
    const out = b.alloc([n, m], 'f32');
    b.linear(x, w, out);
    const r = refLinear(xs.v.subarray(1), ws.v.subarray(2 * k), n, k, m);
    await expectNear(b, out, r.want, r.mag, 1e-5);
    b.destroy();
  });

  it('16-bit outputs on whole words are written as packed pairs: GEMV and tiled, bf16 and f16', async () => {
    await linearCase({}, 5, 1040, 14, 'bf16', 'bf16', 'bf16');
    await linearCase({ gemvRows: 8 }, 1, 520, 30, 'f32', 'bf16', 'f16');
    await linearCase({}, 70, 40, 66, 'bf16', 'bf16', 'bf16');
    await linearCase({ gemmThread: 8 }, 70, 40, 130, 'f32', 'bf16', 'f16');
  });

  it('a 16-bit output view at an odd offset falls back to element writes', async () => {
    const b = await descriptor.create({ config: undefined as never });
    for (const n of [2, 70]) {
      const [k, m] = [48, 10];
      const x = put(b, rng.normals(n * k), [n, k], 'f32');
      const w = put(b, rng.normals(m * k, 0.1), [m, k], 'bf16');
      const big = b.alloc([n * m + 1], 'bf16');
      b.fill(big, 7);
      const out = b.reshape(b.sliceRows(big, 1, n * m), [n, m]);
      b.linear(x.t, w.t, out);
      const r = refLinear(x.v, w.v, n, k, m);
      await expectNear(b, out, r.want, r.mag, 2 ** -7);
      const all = decode(await b.download(big), 'bf16');
      expect(all[0]).toBe(7); // the neighbour sharing the first word is untouched
    }
    b.destroy();
  });

  for (const T of [4, 8] as const) {
    it(`tiled linear, ${16 * T}-wide tiles: 70×37 · 67×37ᵀ (partial tiles, odd k), bf16 and f16 in, bf16 out`, async () => {
      await linearCase({ gemmThread: T }, 70, 37, 67, 'bf16', 'bf16');
      await linearCase({ gemmThread: T }, 70, 37, 67, 'f32', 'f16', 'bf16');
      await linearCase({ gemmThread: T, gemvMaxRows: 0 }, 3, 16, 5, 'f32', 'f32');
    });
  }

  for (const transposeW of [false, true]) {
    it(`headMatmul transposeW=${transposeW}: 3 heads, 2 and 70 tokens, bf16 weights`, async () => {
      const b = await descriptor.create({ config: undefined as never });
      const [H, k, m] = [3, 40, 24];
      for (const n of [2, 70]) {
        const x = put(b, rng.normals(n * H * k), [n, H, k], 'f32');
        const w = put(b, rng.normals(H * k * m, 0.2), transposeW ? [H, m, k] : [H, k, m], 'bf16');
        const out = b.alloc([n, H, m], 'f32');
        b.headMatmul(x.t, w.t, out, transposeW);
        const want = new Float64Array(n * H * m);
        const mag = new Float64Array(n * H * m);
        for (let t = 0; t < n; t++)
          for (let h = 0; h < H; h++)
            for (let j = 0; j < m; j++) {
              let s = 0;
              let a = 0;
              for (let q = 0; q < k; q++) {
                const wv = transposeW ? w.v[(h * m + j) * k + q]! : w.v[(h * k + q) * m + j]!;
                const p = x.v[(t * H + h) * k + q]! * wv;
                s += p;
                a += Math.abs(p);
              }
              want[(t * H + h) * m + j] = s;
              mag[(t * H + h) * m + j] = a;
            }
        await expectNear(b, out, want, mag, 1e-5);
      }
      b.destroy();
    });
  }

  const silu = (g: number) => g / (1 + Math.exp(-g));
  /** `crowd`: every token picks local experts 2, 3, 4 (several GEMV tiles per expert). */
  async function moeCase(
    o: Partial<MatmulOptions>,
    n: number,
    dt: DType,
    crowd = false,
    outD: DType = 'f32',
  ) {
    const b = await descriptor.create({ config: undefined as never });
    b.setMatmulOptions(o);
    const [hidden, I, Eall, El, start, K] = [64, 24, 7, 4, 2, 3];
    const x = put(b, rng.normals(n * hidden), [n, hidden], dt);
    const idList: number[] = [];
    for (let t = 0; t < n; t++) {
      const p = crowd ? [2, 3, 4].sort(() => rng.next() - 0.5) : rng.permutation(Eall);
      for (let k = 0; k < K; k++) idList.push(p[k]!);
    }
    const ids = b.upload(Int32Array.from(idList), [n, K], 'i32');
    const wv = Float64Array.from({ length: n * K }, () => rng.next());
    const wts = put(b, wv, [n, K], 'f32');
    const gu = put(b, rng.normals(El * 2 * I * hidden, 0.2), [El, 2 * I, hidden], dt);
    const dn = put(b, rng.normals(El * hidden * I, 0.2), [El, hidden, I], dt);
    const out = b.alloc([n, hidden], outD);
    b.moeExperts(x.t, ids, wts.t, gu.t, dn.t, start, out);
    const want = new Float64Array(n * hidden);
    const mag = new Float64Array(n * hidden);
    for (let t = 0; t < n; t++)
      for (let k = 0; k < K; k++) {
        const e = idList[t * K + k]! - start;
        if (e < 0 || e >= El) continue;
        const a = new Float64Array(I);
        for (let i = 0; i < I; i++) {
          let g = 0;
          let u = 0;
          for (let q = 0; q < hidden; q++) {
            const xv = x.v[t * hidden + q]!;
            g += xv * gu.v[(e * 2 * I + i) * hidden + q]!;
            u += xv * gu.v[(e * 2 * I + I + i) * hidden + q]!;
          }
          a[i] = silu(g) * u;
        }
        for (let c = 0; c < hidden; c++) {
          let y = 0;
          let ym = 0;
          for (let i = 0; i < I; i++) {
            y += a[i]! * dn.v[(e * hidden + c) * I + i]!;
            ym += Math.abs(a[i]! * dn.v[(e * hidden + c) * I + i]!);
          }
          want[t * hidden + c]! += wts.v[t * K + k]! * y;
          mag[t * hidden + c]! += wts.v[t * K + k]! * ym;
        }
      }
    // Inputs are the values the device holds, arithmetic f32 on both sides of the silu: 1e-4 of
    // Σ|terms| (a 16-bit output adds its rounding).
    const floor = 1e-3 * Math.max(...mag);
    await expectNear(
      b,
      out,
      want,
      mag.map((v) => v + floor),
      outD === 'f32' ? 1e-4 : 2 ** -7,
    );
    b.destroy();
  }

  for (const dt of ['f32', 'bf16'] as const) {
    it(`MoE experts ${dt}: GEMV tiles (5 tokens; 10 tokens on 3 experts, 2 tiles of 8 rows each)`, async () => {
      await moeCase({}, 5, dt);
      await moeCase({}, 10, dt, true, 'bf16');
    });
    it(`MoE experts ${dt}: tiled kernel (40 tokens; 64- and 128-row tiles)`, async () => {
      await moeCase({}, 40, dt);
      await moeCase({ gemmThread: 8 }, 40, dt, false, 'bf16');
    });
  }

  it('the naive baseline stays selectable and correct', async () => {
    await linearCase({ naive: true }, 3, 40, 7, 'f32', 'bf16');
    await moeCase({ naive: true }, 5, 'f32');
  });

  it('refuses bad tunings, naming the field', async () => {
    const b = await descriptor.create({ config: undefined as never });
    expect(() => b.setMatmulOptions({ gemvThreads: 96 })).toThrow(/gemvThreads/);
    expect(() => b.setMatmulOptions({ gemmThread: 6 as 4 })).toThrow(/gemmThread/);
    expect(() => b.setMatmulOptions({ gemvRows: 0 })).toThrow(/gemvRows/);
    expect(b.matmulOptions().gemvThreads).not.toBe(96);
    b.destroy();
  });
});
