/**
 * Conformance cases across W simulated DCP ranks: sharded decode merged by `lseCombine` (both
 * modes, several interleave sizes) and chunked prefill whose cached context is spread over the
 * ranks. Both must equal dense attention over the whole sequence.
 */
import { gatherContextChunk, planContextChunks } from '../context.js';
import type { AttentionBackend, BackendCapabilities } from '../descriptor.js';
import { lseCombine } from '../lse-combine.js';
import type { Tensor } from '../tensor.js';
import { refAttend, refLinear, refLocalIndex, refLocalLen, refOwner } from './reference.js';
import { type CaseContext, type CaseDef, expectTensor, get, put } from './suite.js';

type AnyBackend = AttentionBackend<Tensor, unknown>;

/** Slot of global position `p` on `rank` (−1 when another rank owns it), from the ownership rule. */
function slotOf(p: number, rank: number, bt: number[], B: number, w: number, il: number): number {
  if (refOwner(p, w, il) !== rank) return -1;
  const j = refLocalIndex(p, w, il);
  return bt[Math.floor(j / B)]! * B + (j % B);
}

/** Writes each request's latent rows into every rank's cache (each rank keeps what it owns). */
function fillCaches(
  ranks: AnyBackend[],
  caches: Tensor[],
  rows: Float64Array[],
  tables: number[][],
  o: { L: number; R: number; B: number; w: number; il: number },
): void {
  const W = o.L + o.R;
  ranks.forEach((b, r) => {
    rows.forEach((lat, q) => {
      const n = lat.length / W;
      if (n === 0) return;
      const kvC = new Float64Array(n * o.L);
      const kPe = new Float64Array(n * o.R);
      for (let t = 0; t < n; t++) {
        kvC.set(lat.subarray(t * W, t * W + o.L), t * o.L);
        kPe.set(lat.subarray(t * W + o.L, (t + 1) * W), t * o.R);
      }
      const slots = Array.from({ length: n }, (_, p) => slotOf(p, r, tables[q]!, o.B, o.w, o.il));
      const a = put(b, kvC, [n, o.L], 'f32');
      const c = put(b, kPe, [n, o.R], 'f32');
      const s = put(b, slots, [n], 'i32');
      b.writeKv(a.t, c.t, s.t, caches[r]!);
      for (const t of [a.t, c.t, s.t]) b.dispose(t);
    });
  });
}

/** Random block tables: `need[q]` distinct block ids per request, shared by every rank. */
function blockTables(ctx: CaseContext, need: number[], numBlocks: number, maxBlocks: number): number[][] {
  const perm = ctx.rng.permutation(numBlocks);
  let next = 0;
  return need.map((k) => Array.from({ length: maxBlocks }, (_, i) => (i < k ? perm[next++]! : 0)));
}

/** Sharded decode cases. */
export function dcpDecodeCases(caps: BackendCapabilities, sizes: readonly number[]): CaseDef[] {
  const defs: CaseDef[] = [];
  const B = 8;
  for (const w of sizes) {
    for (const il of [1, 4, B]) {
      if (caps.interleaveSizes !== 'any' && !caps.interleaveSizes.includes(il)) continue;
      for (const mode of ['ag_rs', 'a2a'] as const) {
        defs.push({
          name: `dcp/decode W=${w} I=${il}${il === B ? '(=blockSize)' : ''} ${mode}`,
          body: async (ctx) => {
            await dcpDecodeScenario(ctx, { dcp: w, interleave: il, mode, blockSize: B });
          },
        });
      }
    }
  }
  return defs;
}

/** Parameters of a sharded-decode scenario. */
export interface DcpDecodeScenario {
  dcp: number;
  interleave: number;
  mode: 'ag_rs' | 'a2a';
  blockSize: number;
  /** Global sequence lengths (default: 0, 1, W−1, 7 and two random ones). */
  lens?: number[];
  /** Comparison tolerance (default: the f32 tolerance). */
  tol?: number;
  /** Latent widths and heads per rank (default 12 + 4, 2 heads). */
  kvLoraRank?: number;
  ropeDim?: number;
  headsPerRank?: number;
}

/**
 * W simulated ranks: write a random latent sequence per request into each rank's cache (its own
 * tokens only), all-gather queries along heads, decode locally, merge with `lseCombine`, and
 * compare every rank's heads with dense attention over the whole sequence. Returns each rank's
 * merged output (float64) so callers can compare modes.
 */
export async function dcpDecodeScenario(ctx: CaseContext, p: DcpDecodeScenario): Promise<Float64Array[]> {
  const { dcp: w, interleave: il, mode, blockSize: B } = p;
  const [L, R, Hl] = [p.kvLoraRank ?? 12, p.ropeDim ?? 4, p.headsPerRank ?? 2];
  const W = L + R;
  const H = w * Hl;
  const scale = 1 / Math.sqrt(W);
  // Lengths include 0, 1, fewer than W tokens, and a few blocks' worth.
  const lens = p.lens ?? [
    0,
    1,
    Math.max(0, w - 1),
    7,
    ctx.rng.int(1, 3 * B * w),
    ctx.rng.int(B * w, 5 * B * w),
  ];
  const reqs = lens.length;
  const maxBlocks = Math.max(1, ...lens.map((l) => Math.ceil(l / (B * w))));
  const numBlocks = reqs * maxBlocks + 1;
  const tables = blockTables(
    ctx,
    lens.map((l) => Math.ceil(l / (B * w))),
    numBlocks,
    maxBlocks,
  );
  const rows = lens.map((l) => ctx.rng.normals(l * W));
  const ranks: AnyBackend[] = [];
  for (let r = 0; r < w; r++) ranks.push((await ctx.createRank()) as AnyBackend);
  const kvDtype = ranks[0]!.capabilities.kvCacheDtypes.includes('f32')
    ? 'f32'
    : ranks[0]!.capabilities.kvCacheDtypes[0]!;
  const caches = ranks.map((b) => b.alloc([numBlocks, B, W], kvDtype));
  fillCaches(ranks, caches, rows, tables, { L, R, B, w, il });
  // The values each rank's cache really holds (rounded to the KV dtype).
  const stored = rows.map((r) => put(ranks[0]!, r, [r.length], kvDtype));
  const storedV = stored.map((s) => s.v);
  for (const s of stored) ranks[0]!.dispose(s.t);
  // Queries: each rank owns Hl heads; the model all-gathers them along heads.
  const qAll = ctx.rng.normals(reqs * H * W);
  const comms = await ctx.communicators(w);
  const base = ranks[0]!.capabilities.decodeLseBase;
  const results = await Promise.all(
    ranks.map(async (b, r) => {
      const comm = comms[r]!;
      const mine = new Float64Array(reqs * Hl * W);
      for (let q = 0; q < reqs; q++)
        mine.set(qAll.subarray((q * H + r * Hl) * W, (q * H + (r + 1) * Hl) * W), q * Hl * W);
      const qLocal = put(b, mine, [reqs, Hl, W], 'f32');
      const gathered =
        w > 1 ? await comm.allGather(b.commBuffer(qLocal.t), [reqs, Hl, W], 1) : b.commBuffer(qLocal.t);
      const q = b.fromCommBuffer(gathered, [reqs, H, W], 'f32');
      const bt = put(b, tables.flat(), [reqs, maxBlocks], 'i32');
      const localLens = lens.map((l) => refLocalLen(l, r, w, il));
      const sl = put(b, localLens, [reqs], 'i32');
      const out = b.alloc([reqs, H, L], 'f32');
      const lse = b.alloc([reqs, H], 'f32');
      b.mlaDecode(q, caches[r]!, { blockTable: bt.t, seqLens: sl.t }, scale, out, lse);
      const merged = await lseCombine(b, comm, out, lse, { mode, returnLse: true });
      return { b, merged };
    }),
  );
  const got: Float64Array[] = [];
  for (let r = 0; r < w; r++) {
    const { b, merged } = results[r]!;
    got.push(await get(b, merged.out));
    const wantO = new Float64Array(reqs * Hl * L);
    const wantL = new Float64Array(reqs * Hl);
    for (let q = 0; q < reqs; q++) {
      const keys = Array.from({ length: lens[q]! }, (_, p) => (k: number) => storedV[q]![p * W + k]!);
      for (let h = 0; h < Hl; h++) {
        const qo = (q * H + r * Hl + h) * W;
        const res = refAttend((k) => qAll[qo + k]!, W, keys, keys, L, scale);
        wantO.set(res.out, (q * Hl + h) * L);
        wantL[q * Hl + h] = res.lse;
      }
    }
    await expectTensor(ctx, b, merged.out, wantO, `rank ${r} merged output (base ${base})`, 'f32', p.tol);
    await expectTensor(ctx, b, merged.lse!, wantL, `rank ${r} global LSE`, 'f32', p.tol);
  }
  return got;
}

/** Chunked prefill with cached context spread over the ranks. */
export function dcpPrefillCases(sizes: readonly number[]): CaseDef[] {
  return sizes.map((w) => ({
    name: `dcp/prefill-with-context W=${w}`,
    // Context lengths: none, one token (ranks > 0 hold nothing), exactly one chunk, several
    // chunks; the chunk (6·W tokens) is not a multiple of the block size (4) times W, so chunk
    // boundaries fall inside blocks.
    body: (ctx: CaseContext) =>
      dcpPrefillScenario(ctx, {
        dcp: w,
        interleave: 1,
        blockSize: 4,
        chunkTokens: 6 * w,
        contextLens: [0, 1, 6 * w, 12 * w + 3],
        newLens: [3, 2, 1, 4],
      }),
  }));
}

/** Parameters of a chunked-prefill-with-context scenario. */
export interface DcpPrefillScenario {
  dcp: number;
  interleave: number;
  blockSize: number;
  /** Global context tokens per chunk (a multiple of interleave·dcp). */
  chunkTokens: number;
  /** Cached context tokens per request. */
  contextLens: number[];
  /** New (prefill) tokens per request. */
  newLens: number[];
  /** Comparison tolerance (default: the f32 tolerance). */
  tol?: number;
}

/**
 * W simulated ranks run MLA prefill the compute-friendly way: causal attention over the new
 * tokens, plus every context chunk gathered from all ranks (`gatherContextChunk`), up-projected
 * and attended non-causally, merged by LSE. Compared with dense causal attention over context +
 * new tokens, per rank (each rank has its own heads).
 */
export async function dcpPrefillScenario(ctx: CaseContext, p: DcpPrefillScenario): Promise<void> {
  const [L, R, Hl, dn, dv] = [10, 4, 2, 6, 5];
  const { dcp: w, interleave: il, blockSize: B, chunkTokens: M, contextLens: ctxLens, newLens } = p;
  const W = L + R;
  const scale = 1 / Math.sqrt(dn + R);
  const reqs = ctxLens.length;
  const maxBlocks = Math.max(...ctxLens.map((c) => Math.ceil(c / (B * w))), 1);
  const numBlocks = reqs * maxBlocks + 1;
  const tables = blockTables(
    ctx,
    ctxLens.map((c) => Math.ceil(c / (B * w))),
    numBlocks,
    maxBlocks,
  );
  const ctxRows = ctxLens.map((c) => ctx.rng.normals(c * W));
  const newRows = newLens.map((n) => ctx.rng.normals(n * W));
  const cuQ = [0];
  const nTot = newLens.reduce((a, n) => a + n, 0);
  newLens.forEach((n, i) => {
    cuQ.push(cuQ[i]! + n);
  });
  const ranks: AnyBackend[] = [];
  for (let r = 0; r < w; r++) ranks.push((await ctx.createRank()) as AnyBackend);
  const caches = ranks.map((b) => b.alloc([numBlocks, B, W], 'f32'));
  fillCaches(ranks, caches, ctxRows, tables, { L, R, B, w, il });
  const comms = await ctx.communicators(w);
  const chunks = planContextChunks(ctxLens, { dcp: w, interleave: il, chunkTokens: M });
  // Per rank (its Hl heads): kv_b weight [Hl·(dn+dv), L] and queries [nTot, Hl, dn+R].
  const kvb = ranks.map(() => ctx.rng.normals(Hl * (dn + dv) * L, 0.3));
  const qs = ranks.map(() => ctx.rng.normals(nTot * Hl * (dn + R)));
  const outs = await Promise.all(
    ranks.map(async (b, r) => {
      const comm = comms[r]!;
      const wKvb = put(b, kvb[r]!, [Hl * (dn + dv), L], 'f32').t;
      const q = put(b, qs[r]!, [nTot, Hl, dn + R], 'f32').t;
      // Up-projects latent rows [n, W] into k_nope [n, Hl, dn], v [n, Hl, dv] and k_pe [n, R].
      const project = (lat: Tensor, n: number) => {
        const kvC = b.alloc([n, L], 'f32');
        const kPe = b.alloc([n, R], 'f32');
        b.copyColumns(lat, 0, kvC, 0, L);
        b.copyColumns(lat, L, kPe, 0, R);
        const kv = b.alloc([n, Hl, dn + dv], 'f32');
        b.linear(kvC, wKvb, b.reshape(kv, [n, Hl * (dn + dv)]));
        const k = b.alloc([n, Hl, dn], 'f32');
        const v = b.alloc([n, Hl, dv], 'f32');
        b.copyColumns(kv, 0, k, 0, dn);
        b.copyColumns(kv, dn, v, 0, dv);
        return { k, v, kPe };
      };
      const all = new Float64Array(nTot * W);
      let at = 0;
      for (const rws of newRows) {
        all.set(rws, at);
        at += rws.length;
      }
      const lat = put(b, all, [nTot, W], 'f32').t;
      const nw = project(lat, nTot);
      const cq = put(b, cuQ, [reqs + 1], 'i32').t;
      const out = b.alloc([nTot, Hl, dv], 'f32');
      const lse = b.alloc([nTot, Hl], 'f32');
      b.attention(q, nw.k, nw.kPe, nw.v, { cuSeqLensQ: cq, cuSeqLensK: cq, causal: true }, scale, out, lse);
      const bt = put(b, tables.flat(), [reqs, maxBlocks], 'i32').t;
      for (const chunk of chunks) {
        const rows = await gatherContextChunk(b, comm, caches[r]!, bt, chunk);
        const nk = chunk.cuSeqLensK[reqs]!;
        const cx = project(rows, nk);
        const ck = put(b, chunk.cuSeqLensK, [reqs + 1], 'i32').t;
        const cOut = b.alloc([nTot, Hl, dv], 'f32');
        const cLse = b.alloc([nTot, Hl], 'f32');
        b.attention(
          q,
          cx.k,
          cx.kPe,
          cx.v,
          { cuSeqLensQ: cq, cuSeqLensK: ck, causal: false },
          scale,
          cOut,
          cLse,
        );
        b.mergeAttnStates(out, lse, cOut, cLse, out, lse);
      }
      return { b, out };
    }),
  );
  for (let r = 0; r < w; r++) {
    const want = new Float64Array(nTot * Hl * dv);
    for (let q = 0; q < reqs; q++) {
      const seq = new Float64Array((ctxLens[q]! + newLens[q]!) * W);
      seq.set(ctxRows[q]!, 0);
      seq.set(newRows[q]!, ctxRows[q]!.length);
      const n = seq.length / W;
      const kvC = new Float64Array(n * L);
      for (let p = 0; p < n; p++) kvC.set(seq.subarray(p * W, p * W + L), p * L);
      const kv = refLinear(kvC, kvb[r]!, n, L, Hl * (dn + dv));
      for (let i = 0; i < newLens[q]!; i++) {
        const pos = ctxLens[q]! + i;
        for (let h = 0; h < Hl; h++) {
          const qo = ((cuQ[q]! + i) * Hl + h) * (dn + R);
          const keys = Array.from(
            { length: pos + 1 },
            (_, p) => (k: number) => (k < dn ? kv[(p * Hl + h) * (dn + dv) + k]! : seq[p * W + L + k - dn]!),
          );
          const vals = Array.from(
            { length: pos + 1 },
            (_, p) => (k: number) => kv[(p * Hl + h) * (dn + dv) + dn + k]!,
          );
          const res = refAttend((k) => qs[r]![qo + k]!, dn + R, keys, vals, dv, scale);
          want.set(res.out, ((cuQ[q]! + i) * Hl + h) * dv);
        }
      }
    }
    await expectTensor(
      ctx,
      outs[r]!.b,
      outs[r]!.out,
      want,
      `rank ${r} prefill output vs dense causal attention`,
      'f32',
    );
  }
}
