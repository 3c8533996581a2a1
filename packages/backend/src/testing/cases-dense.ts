/**
 * Conformance cases: memory, data movement, dense layer ops, MoE.
 */
import type { BackendCapabilities } from '../descriptor.js';
import type { FloatDType } from '../tensor.js';
import { assertEqual } from './host.js';
import { refLinear, refRope } from './reference.js';
import { type CaseDef, expectTensor, get, put } from './suite.js';

const silu = (g: number) => g / (1 + Math.exp(-g));

/** Memory and data-movement cases. */
export function memoryCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  for (const dt of [...caps.dtypes, 'i32' as const]) {
    defs.push({
      name: `memory/upload-download-views ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const vals =
          dt === 'i32' ? Array.from({ length: 24 }, () => ctx.rng.int(-1000, 1000)) : ctx.rng.normals(24);
        const { t, v } = put(b, vals, [4, 6], dt);
        assertEqual(await get(b, t), v, 'download after upload');
        const patch = put(b, dt === 'i32' ? [7, 8, 9] : [0.5, -2, 3.25], [3], dt);
        b.write(t, await b.download(patch.t), 5);
        v.set(patch.v, 5);
        assertEqual(await get(b, t), v, 'download after write at offset 5');
        assertEqual(await get(b, b.reshape(t, [6, 4])), v, 'reshape view');
        assertEqual(await get(b, b.sliceRows(t, 1, 2)), v.subarray(6, 18), 'sliceRows(1, 2)');
        const z = b.alloc([3, 2], dt);
        b.fill(z, 2);
        assertEqual(await get(b, z), [2, 2, 2, 2, 2, 2], 'fill 2');
        for (const x of [t, patch.t, z]) b.dispose(x);
      },
    });
  }
  for (const dt of caps.dtypes) {
    defs.push({
      name: `data/copyColumns ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const rows = 5;
        const src = put(b, ctx.rng.normals(rows * 7), [rows, 7], dt);
        for (const target of [dt, 'f32' as FloatDType]) {
          const dst = put(b, ctx.rng.normals(rows * 4), [rows, 4], target);
          b.copyColumns(src.t, 2, dst.t, 1, 3);
          const want = Float64Array.from(dst.v);
          for (let r = 0; r < rows; r++)
            for (let j = 0; j < 3; j++) want[r * 4 + 1 + j] = src.v[r * 7 + 2 + j]!;
          await expectTensor(ctx, b, dst.t, want, `copyColumns ${dt} → ${target}`);
          b.dispose(dst.t);
        }
        b.dispose(src.t);
      },
    });
    defs.push({
      name: `data/gatherRows ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const src = put(b, ctx.rng.normals(6 * 5), [6, 5], dt);
        const idx = [5, 0, 0, 3, 2];
        const ids = put(b, idx, [5], 'i32');
        const dst = b.alloc([5, 5], dt);
        b.gatherRows(src.t, ids.t, dst);
        assertEqual(
          await get(b, dst),
          idx.flatMap((r) => Array.from(src.v.subarray(r * 5, r * 5 + 5))),
          'gatherRows',
        );
        for (const x of [src.t, ids.t, dst]) b.dispose(x);
      },
    });
  }
  return defs;
}

/** Dense layer cases. */
export function denseCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  for (const dt of caps.dtypes) {
    defs.push({
      name: `dense/embedding vocab-parallel ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [vocabPart, hidden, start] = [7, 9, 14];
        const table = put(b, ctx.rng.normals(vocabPart * hidden), [vocabPart, hidden], dt);
        const idList = [14, 20, 3, 21, 13, 17, 0];
        const ids = put(b, idList, [idList.length], 'i32');
        const out = b.alloc([idList.length, hidden], dt);
        b.embedding(ids.t, table.t, start, out);
        const want = idList.flatMap((id) =>
          id >= start && id < start + vocabPart
            ? Array.from(table.v.subarray((id - start) * hidden, (id - start + 1) * hidden))
            : new Array<number>(hidden).fill(0),
        );
        await expectTensor(ctx, b, out, want, 'embedding');
        for (const x of [table.t, ids.t, out]) b.dispose(x);
      },
    });
    defs.push({
      name: `dense/rmsNorm ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [n, d, eps] = [5, 33, 1e-6];
        const x = put(b, ctx.rng.normals(n * d, 3), [n, d], dt);
        const w = put(b, ctx.rng.normals(d), [d], dt);
        const out = b.alloc([n, d], dt);
        b.rmsNorm(x.t, w.t, eps, out);
        const want = new Float64Array(n * d);
        for (let r = 0; r < n; r++) {
          let ss = 0;
          for (let p = 0; p < d; p++) ss += x.v[r * d + p]! ** 2;
          const inv = 1 / Math.sqrt(ss / d + eps);
          for (let p = 0; p < d; p++) want[r * d + p] = x.v[r * d + p]! * inv * w.v[p]!;
        }
        await expectTensor(ctx, b, out, want, 'rmsNorm');
        for (const t of [x.t, w.t, out]) b.dispose(t);
      },
    });
    for (const wdt of caps.dtypes) {
      defs.push({
        name: `dense/linear x=${dt} w=${wdt}`,
        body: async (ctx) => {
          const b = await ctx.backend();
          const [n, k, m] = [6, 37, 11];
          const x = put(b, ctx.rng.normals(n * k), [n, k], dt);
          const w = put(b, ctx.rng.normals(m * k, 0.2), [m, k], wdt);
          const out = b.alloc([n, m], dt);
          b.linear(x.t, w.t, out);
          await expectTensor(ctx, b, out, refLinear(x.v, w.v, n, k, m), 'linear');
          for (const t of [x.t, w.t, out]) b.dispose(t);
        },
      });
    }
    for (const transposeW of [false, true]) {
      defs.push({
        name: `dense/headMatmul transposeW=${transposeW} ${dt}`,
        body: async (ctx) => {
          const b = await ctx.backend();
          const [n, H, k, m] = [3, 4, 10, 13];
          const x = put(b, ctx.rng.normals(n * H * k), [n, H, k], dt);
          const w = put(b, ctx.rng.normals(H * k * m, 0.3), transposeW ? [H, m, k] : [H, k, m], dt);
          const out = b.alloc([n, H, m], dt);
          b.headMatmul(x.t, w.t, out, transposeW);
          const want = new Float64Array(n * H * m);
          for (let t = 0; t < n; t++)
            for (let h = 0; h < H; h++)
              for (let j = 0; j < m; j++) {
                let s = 0;
                for (let i = 0; i < k; i++) {
                  const wv = transposeW ? w.v[(h * m + j) * k + i]! : w.v[(h * k + i) * m + j]!;
                  s += x.v[(t * H + h) * k + i]! * wv;
                }
                want[(t * H + h) * m + j] = s;
              }
          await expectTensor(ctx, b, out, want, 'headMatmul');
          for (const t of [x.t, w.t, out]) b.dispose(t);
        },
      });
    }
    for (const layout of ['interleaved-to-half', 'interleaved', 'half'] as const) {
      defs.push({
        name: `dense/rope ${layout} ${dt}`,
        body: async (ctx) => {
          const b = await ctx.backend();
          const [n, H, headDim, offset, rot, maxPos] = [4, 3, 14, 6, 8, 50];
          // A YaRN-like table: arbitrary per-dim frequencies and an mscale factor folded in.
          const mscale = 1.2;
          const table = new Float64Array(maxPos * rot);
          const freqs = Array.from(
            { length: rot / 2 },
            (_, i) => 10000 ** (-(2 * i) / rot) * (0.5 + ctx.rng.next()),
          );
          for (let p = 0; p < maxPos; p++)
            for (let i = 0; i < rot / 2; i++) {
              table[p * rot + i] = Math.cos(p * freqs[i]!) * mscale;
              table[p * rot + rot / 2 + i] = Math.sin(p * freqs[i]!) * mscale;
            }
          const cs = put(b, table, [maxPos, rot], 'f32');
          const posList = [0, 7, 49, 3];
          const pos = put(b, posList, [n], 'i32');
          const x = put(b, ctx.rng.normals(n * H * headDim), [n, H, headDim], dt);
          b.rope(x.t, pos.t, cs.t, { headDim, offset, rotDim: rot, layout });
          const want = Float64Array.from(x.v);
          for (let t = 0; t < n; t++)
            for (let h = 0; h < H; h++) {
              const o = (t * H + h) * headDim + offset;
              const p = posList[t]!;
              const y = refRope(
                Array.from(x.v.subarray(o, o + rot)),
                Array.from(cs.v.subarray(p * rot, p * rot + rot / 2)),
                Array.from(cs.v.subarray(p * rot + rot / 2, (p + 1) * rot)),
                layout,
              );
              want.set(y, o);
            }
          await expectTensor(ctx, b, x.t, want, `rope ${layout}`);
          for (const t of [cs.t, pos.t, x.t]) b.dispose(t);
        },
      });
    }
    defs.push({
      name: `dense/siluMul-add ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [n, I] = [4, 9];
        const x = put(b, ctx.rng.normals(n * 2 * I, 2), [n, 2 * I], dt);
        const out = b.alloc([n, I], dt);
        b.siluMul(x.t, out);
        const want = new Float64Array(n * I);
        for (let t = 0; t < n; t++)
          for (let i = 0; i < I; i++) want[t * I + i] = silu(x.v[t * 2 * I + i]!) * x.v[t * 2 * I + I + i]!;
        await expectTensor(ctx, b, out, want, 'siluMul');
        const a = put(b, ctx.rng.normals(n * I), [n, I], dt);
        const c = put(b, ctx.rng.normals(n * I), [n, I], dt);
        b.add(a.t, c.t, a.t); // residual add in place (out aliases a)
        await expectTensor(
          ctx,
          b,
          a.t,
          Float64Array.from(a.v, (v, i) => v + c.v[i]!),
          'add in place',
        );
        for (const t of [x.t, out, a.t, c.t]) b.dispose(t);
      },
    });
  }
  defs.push({
    name: 'dense/argmax f32',
    body: async (ctx) => {
      const b = await ctx.backend();
      const [n, V] = [5, 40];
      const vals = ctx.rng.normals(n * V);
      vals[3 * V + 7] = 50;
      vals[3 * V + 20] = 50; // tie: the first index wins
      const x = put(b, vals, [n, V], 'f32');
      const out = b.alloc([n], 'i32');
      b.argmax(x.t, out);
      const want = Array.from({ length: n }, (_, r) => {
        let best = 0;
        for (let j = 1; j < V; j++) if (x.v[r * V + j]! > x.v[r * V + best]!) best = j;
        return best;
      });
      assertEqual(await get(b, out), want, 'argmax');
      b.dispose(x.t);
      b.dispose(out);
    },
  });
  return defs;
}

/** DeepSeek-V2 routing reference: returns ids and weights per token. */
function refRoute(
  logits: Float64Array,
  n: number,
  E: number,
  K: number,
  o: { grouped: boolean; nGroup: number; topkGroup: number; norm: boolean; scale: number },
): { ids: number[]; w: number[] } {
  const ids: number[] = [];
  const w: number[] = [];
  for (let t = 0; t < n; t++) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E));
    const m = Math.max(...row);
    const e = row.map((x) => Math.exp(x - m));
    const s = e.reduce((a, c) => a + c, 0);
    const scores = e.map((x) => x / s);
    let allowed = scores.map(() => true);
    if (o.grouped) {
      const gs = E / o.nGroup;
      const gScore = Array.from({ length: o.nGroup }, (_, g) =>
        Math.max(...scores.slice(g * gs, (g + 1) * gs)),
      );
      const keep = [...gScore.keys()].sort((a, c) => gScore[c]! - gScore[a]! || a - c).slice(0, o.topkGroup);
      allowed = scores.map((_, i) => keep.includes(Math.floor(i / gs)));
    }
    const order = [...scores.keys()]
      .filter((i) => allowed[i])
      .sort((a, c) => scores[c]! - scores[a]! || a - c);
    const top = order.slice(0, K);
    const sum = top.reduce((a, i) => a + scores[i]!, 0);
    for (const i of top) {
      ids.push(i);
      w.push(K > 1 && o.norm ? scores[i]! / (sum + 1e-20) : scores[i]! * o.scale);
    }
  }
  return { ids, w };
}

/** MoE cases. */
export function moeCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  const variants = [
    { label: 'greedy scaled', grouped: false, nGroup: 1, topkGroup: 1, norm: false, scale: 1.5 },
    { label: 'greedy normalised', grouped: false, nGroup: 1, topkGroup: 1, norm: true, scale: 1 },
    { label: 'group_limited_greedy', grouped: true, nGroup: 4, topkGroup: 2, norm: false, scale: 16 },
  ];
  for (const v of variants) {
    defs.push({
      name: `moe/route ${v.label}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [n, E, K] = [7, 16, 3];
        const logits = put(b, ctx.rng.normals(n * E, 2), [n, E], 'f32');
        const ids = b.alloc([n, K], 'i32');
        const w = b.alloc([n, K], 'f32');
        b.moeRoute(
          logits.t,
          {
            topK: K,
            method: v.grouped ? 'group_limited_greedy' : 'greedy',
            nGroup: v.nGroup,
            topkGroup: v.topkGroup,
            normTopkProb: v.norm,
            routedScalingFactor: v.scale,
          },
          ids,
          w,
        );
        const ref = refRoute(logits.v, n, E, K, v);
        assertEqual(await get(b, ids), ref.ids, 'expert ids');
        await expectTensor(ctx, b, w, ref.w, 'routing weights');
        for (const t of [logits.t, ids, w]) b.dispose(t);
      },
    });
  }
  for (const dt of caps.dtypes) {
    defs.push({
      name: `moe/experts local range ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [n, hidden, I, Eall, El, start, K] = [6, 12, 5, 8, 3, 2, 2];
        const x = put(b, ctx.rng.normals(n * hidden), [n, hidden], dt);
        const idList = Array.from({ length: n * K }, () => ctx.rng.int(0, Eall - 1));
        const ids = put(b, idList, [n, K], 'i32');
        const wts = put(
          b,
          Array.from({ length: n * K }, () => ctx.rng.next()),
          [n, K],
          'f32',
        );
        const gu = put(b, ctx.rng.normals(El * 2 * I * hidden, 0.3), [El, 2 * I, hidden], dt);
        const dn = put(b, ctx.rng.normals(El * hidden * I, 0.3), [El, hidden, I], dt);
        const out = b.alloc([n, hidden], dt);
        b.moeExperts(x.t, ids.t, wts.t, gu.t, dn.t, start, out);
        const want = new Float64Array(n * hidden);
        for (let t = 0; t < n; t++)
          for (let k = 0; k < K; k++) {
            const e = idList[t * K + k]! - start;
            if (e < 0 || e >= El) continue;
            const xr = x.v.subarray(t * hidden, (t + 1) * hidden);
            const h = refLinear(
              xr,
              gu.v.subarray(e * 2 * I * hidden, (e + 1) * 2 * I * hidden),
              1,
              hidden,
              2 * I,
            );
            const a = Float64Array.from({ length: I }, (_, i) => silu(h[i]!) * h[I + i]!);
            const y = refLinear(a, dn.v.subarray(e * hidden * I, (e + 1) * hidden * I), 1, I, hidden);
            for (let c = 0; c < hidden; c++) want[t * hidden + c]! += wts.v[t * K + k]! * y[c]!;
          }
        await expectTensor(ctx, b, out, want, 'moeExperts');
        for (const t of [x.t, ids.t, wts.t, gu.t, dn.t, out]) b.dispose(t);
      },
    });
  }
  return defs;
}
