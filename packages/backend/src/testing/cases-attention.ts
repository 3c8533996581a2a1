/**
 * Conformance cases: paged cache (write, gather), MLA decode, varlen attention, the LSE merges.
 */
import type { BackendCapabilities } from '../descriptor.js';
import type { FloatDType } from '../tensor.js';
import { assertEqual, ConformanceMismatch, TOLERANCE } from './host.js';
import { refAttend, refCombine } from './reference.js';
import { type CaseDef, expectTensor, get, put } from './suite.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** Paged-cache cases. */
export function cacheCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  for (const kv of caps.kvCacheDtypes) {
    defs.push({
      name: `cache/writeKv skips slot -1 kv=${kv}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [nb, B, L, R, n] = [4, 5, 7, 4, 9];
        const W = L + R;
        const init = put(b, ctx.rng.normals(nb * B * W), [nb, B, W], kv);
        const kvC = put(b, ctx.rng.normals(n * L), [n, L], 'f32');
        const kPe = put(b, ctx.rng.normals(n * R), [n, R], 'f32');
        const perm = ctx.rng.permutation(nb * B);
        const slots = Array.from({ length: n }, (_, t) => (t % 3 === 1 ? -1 : perm[t]!));
        const sm = put(b, slots, [n], 'i32');
        b.writeKv(kvC.t, kPe.t, sm.t, init.t);
        const want = Float64Array.from(init.v);
        slots.forEach((s, t) => {
          if (s < 0) return;
          for (let j = 0; j < L; j++) want[s * W + j] = kvC.v[t * L + j]!;
          for (let j = 0; j < R; j++) want[s * W + L + j] = kPe.v[t * R + j]!;
        });
        await expectTensor(ctx, b, init.t, want, 'cache after writeKv', kv);
        for (const t of [init.t, kvC.t, kPe.t, sm.t]) b.dispose(t);
      },
    });
    defs.push({
      name: `cache/gatherCache copy zero-length unaligned kv=${kv}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [nb, B, W, batch, maxBlocks] = [24, 4, 6, 5, 5];
        const src = put(b, ctx.rng.normals(nb * B * W), [nb, B, W], kv);
        const perm = ctx.rng.permutation(nb);
        const bt = Array.from({ length: batch * maxBlocks }, (_, i) => perm[i % nb]!);
        const lens = [5, 0, 9, 1, 0];
        const starts = [3, 2, 0, 7, 19]; // not block-aligned
        const cu = [0];
        for (const l of lens) cu.push(cu[cu.length - 1]! + l);
        const btT = put(b, bt, [batch, maxBlocks], 'i32');
        const cuT = put(b, cu, [batch + 1], 'i32');
        const stT = put(b, starts, [batch], 'i32');
        const dst = b.alloc([cu[batch]!, W], kv);
        b.gatherCache(src.t, { blockTable: btT.t, cuSeqLens: cuT.t, seqStarts: stT.t }, dst);
        const want: number[] = [];
        lens.forEach((len, r) => {
          for (let j = 0; j < len; j++) {
            const p = starts[r]! + j;
            const blk = bt[r * maxBlocks + Math.floor(p / B)]!;
            want.push(...src.v.subarray((blk * B + (p % B)) * W, (blk * B + (p % B) + 1) * W));
          }
        });
        assertEqual(await get(b, dst), want, 'gathered rows (exact copy)');
        for (const t of [src.t, btT.t, cuT.t, stT.t, dst]) b.dispose(t);
      },
    });
  }
  return defs;
}

/** MLA decode cases (one rank). */
export function decodeCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  for (const kv of caps.kvCacheDtypes) {
    for (const multi of caps.multiTokenDecode ? [false, true] : [false]) {
      defs.push({
        name: `attention/mlaDecode ${multi ? 'multi-token ' : ''}kv=${kv}`,
        body: async (ctx) => {
          const b = await ctx.backend();
          const [nb, B, L, R, H, maxBlocks] = [40, 4, 10, 6, 5, 6];
          const W = L + R;
          const scale = 1 / Math.sqrt(W);
          const cache = put(b, ctx.rng.normals(nb * B * W), [nb, B, W], kv);
          const reqs = 4;
          const perm = ctx.rng.permutation(nb);
          const bt = Array.from({ length: reqs * maxBlocks }, (_, i) => perm[i]!);
          const reqLens = [0, 1, 13, 24];
          // Multi-token: each request gets 2 query tokens seeing len-1 and len entries.
          const tokRow = multi ? [0, 0, 1, 1, 2, 2, 3, 3] : [0, 1, 2, 3];
          const lens = multi
            ? tokRow.map((r, i) => Math.max(0, reqLens[r]! - (i % 2 === 0 ? 1 : 0)))
            : reqLens;
          const n = tokRow.length;
          const q = put(b, ctx.rng.normals(n * H * W), [n, H, W], 'f32');
          const btT = put(b, bt, [reqs, maxBlocks], 'i32');
          const lensT = put(b, lens, [n], 'i32');
          const rowT = multi ? put(b, tokRow, [n], 'i32') : null;
          const out = b.alloc([n, H, L], 'f32');
          const lse = b.alloc([n, H], 'f32');
          const meta = rowT
            ? { blockTable: btT.t, seqLens: lensT.t, tokenToRow: rowT.t }
            : { blockTable: btT.t, seqLens: lensT.t };
          b.mlaDecode(q.t, cache.t, meta, scale, out, lse);
          const wantO = new Float64Array(n * H * L);
          const wantL = new Float64Array(n * H);
          const toE = caps.decodeLseBase === '2' ? Math.LOG2E : 1;
          for (let t = 0; t < n; t++) {
            const keys = Array.from({ length: lens[t]! }, (_, j) => {
              const at = (bt[tokRow[t]! * maxBlocks + Math.floor(j / B)]! * B + (j % B)) * W;
              return (p: number) => cache.v[at + p]!;
            });
            for (let h = 0; h < H; h++) {
              const qo = (t * H + h) * W;
              const r = refAttend((p) => q.v[qo + p]!, W, keys, keys, L, scale);
              wantO.set(r.out, (t * H + h) * L);
              wantL[t * H + h] = r.lse * toE;
            }
          }
          await expectTensor(ctx, b, out, wantO, 'decode output', 'f32');
          await expectTensor(ctx, b, lse, wantL, 'decode LSE', 'f32');
          for (const t of [cache.t, q.t, btT.t, lensT.t, out, lse]) b.dispose(t);
          if (rowT) b.dispose(rowT.t);
        },
      });
    }
  }
  return defs;
}

/** Varlen attention and two-state merge cases. */
export function prefillCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  const dts: FloatDType[] = [...caps.dtypes];
  for (const dt of dts) {
    for (const causal of [true, false]) {
      for (const shared of [true, false]) {
        defs.push({
          name: `attention/varlen causal=${causal} kShared=${shared} ${dt}`,
          body: async (ctx) => {
            const b = await ctx.backend();
            const [H, dk, dr, dv] = [3, 8, shared ? 4 : 0, 6];
            const qLens = [3, 1, 4, 0];
            const kLens = causal ? [3, 5, 4, 2] : [5, 0, 2, 3];
            const cuQ = [0];
            const cuK = [0];
            qLens.forEach((l, i) => {
              cuQ.push(cuQ[i]! + l);
              cuK.push(cuK[i]! + kLens[i]!);
            });
            const nq = cuQ[4]!;
            const nk = cuK[4]!;
            const dq = dk + dr;
            const q = put(b, ctx.rng.normals(nq * H * dq), [nq, H, dq], dt);
            const k = put(b, ctx.rng.normals(nk * H * dk), [nk, H, dk], dt);
            const ks = shared ? put(b, ctx.rng.normals(nk * dr), [nk, dr], dt) : null;
            const v = put(b, ctx.rng.normals(nk * H * dv), [nk, H, dv], dt);
            const cq = put(b, cuQ, [5], 'i32');
            const ck = put(b, cuK, [5], 'i32');
            const out = b.alloc([nq, H, dv], dt);
            const lse = b.alloc([nq, H], 'f32');
            const scale = 0.4;
            b.attention(
              q.t,
              k.t,
              ks ? ks.t : null,
              v.t,
              { cuSeqLensQ: cq.t, cuSeqLensK: ck.t, causal },
              scale,
              out,
              lse,
            );
            const wantO = new Float64Array(nq * H * dv);
            const wantL = new Float64Array(nq * H);
            for (let r = 0; r < 4; r++)
              for (let i = 0; i < qLens[r]!; i++) {
                const vis = causal
                  ? Math.max(0, Math.min(kLens[r]!, kLens[r]! - qLens[r]! + i + 1))
                  : kLens[r]!;
                for (let h = 0; h < H; h++) {
                  const qo = ((cuQ[r]! + i) * H + h) * dq;
                  const keys = Array.from({ length: vis }, (_, j) => {
                    const kj = cuK[r]! + j;
                    return (p: number) => (p < dk ? k.v[(kj * H + h) * dk + p]! : ks!.v[kj * dr + p - dk]!);
                  });
                  const vals = Array.from(
                    { length: vis },
                    (_, j) => (p: number) => v.v[((cuK[r]! + j) * H + h) * dv + p]!,
                  );
                  const res = refAttend((p) => q.v[qo + p]!, dq, keys, vals, dv, scale);
                  wantO.set(res.out, ((cuQ[r]! + i) * H + h) * dv);
                  wantL[(cuQ[r]! + i) * H + h] = res.lse;
                }
              }
            await expectTensor(ctx, b, out, wantO, 'attention output');
            await expectTensor(ctx, b, lse, wantL, 'attention LSE', 'f32');
            for (const t of [q.t, k.t, v.t, cq.t, ck.t, out, lse]) b.dispose(t);
            if (ks) b.dispose(ks.t);
          },
        });
      }
    }
  }
  defs.push({
    name: 'attention/mergeAttnStates',
    body: async (ctx) => {
      const b = await ctx.backend();
      const [n, H, D] = [4, 2, 5];
      const a = put(b, ctx.rng.normals(n * H * D), [n, H, D], 'f32');
      const c = put(b, ctx.rng.normals(n * H * D), [n, H, D], 'f32');
      const la = Array.from(ctx.rng.normals(n * H, 3));
      const lb = Array.from(ctx.rng.normals(n * H, 3));
      la[1] = NEG_INF; // first state empty
      lb[2] = NEG_INF; // second state empty
      la[5] = lb[5] = NEG_INF; // both empty
      const lA = put(b, la, [n, H], 'f32');
      const lB = put(b, lb, [n, H], 'f32');
      const out = b.alloc([n, H, D], 'f32');
      const outL = b.alloc([n, H], 'f32');
      b.mergeAttnStates(a.t, lA.t, c.t, lB.t, out, outL);
      const wantO = new Float64Array(n * H * D);
      const wantL = new Float64Array(n * H);
      for (let r = 0; r < n * H; r++) {
        const res = refCombine(
          [a.v.subarray(r * D, (r + 1) * D), c.v.subarray(r * D, (r + 1) * D)],
          [la[r]!, lb[r]!],
          D,
          'e',
        );
        wantO.set(res.out, r * D);
        wantL[r] = res.lse;
      }
      await expectTensor(ctx, b, out, wantO, 'merged output');
      await expectTensor(ctx, b, outL, wantL, 'merged LSE');
      for (const t of [a.t, c.t, lA.t, lB.t, out, outL]) b.dispose(t);
    },
  });
  return defs;
}

/** The DCP merge kernels on one rank (inputs built by hand, including the degenerate LSEs). */
export function mergeKernelCases(caps: BackendCapabilities): CaseDef[] {
  const defs: CaseDef[] = [];
  for (const base of ['e', '2'] as const) {
    defs.push({
      name: `merge/lseCorrect base ${base}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [W, B, H, D] = [4, 3, 2, 5];
        const lses = Array.from(ctx.rng.normals(W * B * H, 2));
        // Row (b=0,h=1): rank 2 empty; row (1,0): NaN and +inf on ranks 0, 3; row (2,1): all empty.
        lses[(2 * B + 0) * H + 1] = NEG_INF;
        lses[(0 * B + 1) * H + 0] = Number.NaN;
        lses[(3 * B + 1) * H + 0] = Number.POSITIVE_INFINITY;
        for (let n = 0; n < W; n++) lses[(n * B + 2) * H + 1] = NEG_INF;
        const lsT = put(b, lses, [W, B, H], 'f32');
        for (let rank = 0; rank < W; rank++) {
          const partial = Array.from(ctx.rng.normals(B * H * D));
          // An empty shard's output is undefined: poison it.
          for (let d = 0; d < D; d++)
            if (!Number.isFinite(lses[(rank * B + 0) * H + 1]!)) partial[(0 * H + 1) * D + d] = Number.NaN;
          const o = put(b, partial, [B, H, D], 'f32');
          const g = b.alloc([B, H], 'f32');
          b.lseCorrect(o.t, lsT.t, rank, base, g);
          const wantO = new Float64Array(B * H * D);
          const wantG = new Float64Array(B * H);
          for (let i = 0; i < B * H; i++) {
            const row = Array.from({ length: W }, (_, n) => lses[n * B * H + i]!);
            const unit = Array.from({ length: W }, (_, n) => new Float64Array(1).fill(n === rank ? 1 : 0));
            const { out: f, lse: G } = refCombine(unit, row, 1, base);
            wantG[i] = G;
            for (let d = 0; d < D; d++) wantO[i * D + d] = f[0] === 0 ? 0 : f[0]! * o.v[i * D + d]!;
          }
          await expectTensor(ctx, b, o.t, wantO, `corrected output of rank ${rank}`);
          await expectTensor(ctx, b, g, wantG, 'global LSE (natural log)');
          b.dispose(o.t);
          b.dispose(g);
        }
        b.dispose(lsT.t);
      },
    });
  }
  defs.push({
    name: 'merge/empty batch',
    body: async (ctx) => {
      // A step with no decode rows still runs the merge kernels (every rank must take part).
      const b = await ctx.backend();
      const out = b.alloc([0, 4, 3], 'f32');
      b.lseCorrect(out, b.alloc([2, 0, 4], 'f32'), 1, 'e', b.alloc([0, 4], 'f32'));
      const packed = b.alloc([0, 4, 4], 'f32');
      b.lsePack(out, b.alloc([0, 4], 'f32'), packed);
      const merged = b.alloc([0, 2, 3], 'f32');
      b.lseCombineA2a(b.reshape(packed, [0, 2, 2, 4]), 'e', merged, b.alloc([0, 2], 'f32'));
      if ((await b.download(merged)).length !== 0)
        throw new ConformanceMismatch('empty merge produced values');
    },
  });
  for (const dt of caps.dtypes) {
    defs.push({
      name: `merge/a2a pack+combine ${dt}`,
      body: async (ctx) => {
        const b = await ctx.backend();
        const [W, B, Hl, D] = [3, 2, 2, 6];
        const H = W * Hl;
        const P = dt === 'f32' ? 1 : 2;
        // Every rank's partials; after the exchange this rank holds head chunk `me` from all ranks.
        const me = 1;
        const outs = Array.from({ length: W }, () => Array.from(ctx.rng.normals(B * H * D)));
        const lses = Array.from({ length: W }, () => Array.from(ctx.rng.normals(B * H, 2)));
        lses[0]![0 * H + me * Hl + 1] = NEG_INF; // empty shard (its output poisoned below)
        lses[2]![1 * H + me * Hl + 0] = Number.NaN;
        for (let d = 0; d < D; d++) outs[0]![(0 * H + me * Hl + 1) * D + d] = Number.NaN;
        const received: number[] = [];
        const recvV: number[][] = [];
        for (let bb = 0; bb < B; bb++)
          for (let n = 0; n < W; n++) {
            const o = put(b, outs[n]!, [B, H, D], dt);
            const l = put(b, lses[n]!, [B, H], 'f32');
            const packed = b.alloc([B, H, D + P], dt);
            b.lsePack(o.t, l.t, packed);
            const host = await b.download(packed);
            for (let h = 0; h < Hl; h++) {
              const at = (bb * H + me * Hl + h) * (D + P);
              received.push(...host.subarray(at, at + D + P));
            }
            recvV[bb * W + n] = Array.from(o.v);
            for (const t of [o.t, l.t, packed]) b.dispose(t);
          }
        const parts = b.upload(
          dt === 'f32' ? Float32Array.from(received) : Uint16Array.from(received),
          [B, W, Hl, D + P],
          dt,
        );
        const out = b.alloc([B, Hl, D], dt);
        const outL = b.alloc([B, Hl], 'f32');
        b.lseCombineA2a(parts, 'e', out, outL);
        const wantO = new Float64Array(B * Hl * D);
        const wantL = new Float64Array(B * Hl);
        for (let bb = 0; bb < B; bb++)
          for (let h = 0; h < Hl; h++) {
            const hh = me * Hl + h;
            const po = Array.from({ length: W }, (_, n) =>
              recvV[bb * W + n]!.slice((bb * H + hh) * D, (bb * H + hh + 1) * D),
            );
            const pl = Array.from({ length: W }, (_, n) => lses[n]![bb * H + hh]!);
            const r = refCombine(po, pl, D, 'e');
            wantO.set(r.out, (bb * Hl + h) * D);
            wantL[bb * Hl + h] = r.lse;
          }
        await expectTensor(ctx, b, out, wantO, 'a2a combined output');
        const gotL = await get(b, outL);
        for (let i = 0; i < wantL.length; i++) {
          if (Math.abs(gotL[i]! - wantL[i]!) > TOLERANCE.f32 * (1 + Math.abs(wantL[i]!))) {
            throw new ConformanceMismatch(
              `a2a LSE ${i}: got ${gotL[i]}, expected ${wantL[i]} (the f32 LSE must survive packing bit for bit)`,
            );
          }
        }
        for (const t of [parts, out, outL]) b.dispose(t);
      },
    });
  }
  return defs;
}
