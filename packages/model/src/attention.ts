import { lseCombine, type Tensor } from '@dcp/backend';
import { addRowBias, type LayerContext, tpAllReduce } from './context.js';
import type { AttnWeights } from './layer-weights.js';

/** Rows `rows` of `x` (`[T, C]`), or `x` itself when they are all rows in order. */
function pick<T extends Tensor, B>(ctx: LayerContext<T, B>, x: T, rows: T | null, count: number): T {
  if (ctx.plan.inOrder && count === ctx.plan.numTokens) return x;
  const out = ctx.scope.alloc([count, x.shape[1]!], x.dtype);
  ctx.backend.gatherRows(x, rows!, out);
  return out;
}

/** Splits rows of `x` (`[n, a + b]`) into `[n, a]` and `[n, b]`. */
function split<T extends Tensor, B>(ctx: LayerContext<T, B>, x: T, a: number, bw: number): [T, T] {
  const n = x.shape[0]!;
  const left = ctx.scope.alloc([n, a], ctx.dtype);
  const right = ctx.scope.alloc([n, bw], ctx.dtype);
  ctx.backend.copyColumns(x, 0, left, 0, a);
  ctx.backend.copyColumns(x, a, right, 0, bw);
  return [left, right];
}

/**
 * Decode rows, absorbed MLA (spec §4.1): latent queries `[q_nope·W_UK ‖ q_pe]`, all-gathered over
 * the DCP group along heads, MQA over this rank's local latent cache, exact LSE merge back to
 * this rank's heads, then `W_UV`. Returns `[nd, N·v]`.
 */
async function decode<T extends Tensor, B>(
  ctx: LayerContext<T, B>,
  w: AttnWeights<T>,
  q: T,
  cache: T,
): Promise<T> {
  const { backend: b, scope: s, config: c, plan, step } = ctx;
  const nd = plan.decodeRows.length;
  const n = ctx.heads;
  const qk = c.qkNopeHeadDim + c.qkRopeHeadDim;
  const lkv = c.kvLoraRank;
  const latent = lkv + c.qkRopeHeadDim;
  const qd = b.reshape(pick(ctx, q, step.decodeRows, nd), [nd * n, qk]);
  const [qNope, qPe] = split(ctx, qd, c.qkNopeHeadDim, c.qkRopeHeadDim);
  const ql = s.alloc([nd, n, lkv], ctx.dtype);
  b.headMatmul(b.reshape(qNope, [nd, n, c.qkNopeHeadDim]), w.wUK, ql, false);
  const qLat = s.alloc([nd * n, latent], ctx.dtype);
  b.copyColumns(b.reshape(ql, [nd * n, lkv]), 0, qLat, 0, lkv);
  b.copyColumns(qPe, 0, qLat, lkv, c.qkRopeHeadDim);
  const wsz = ctx.dcpLayout.size;
  let qAll = b.reshape(qLat, [nd, n, latent]);
  if (wsz > 1) {
    const gathered = await ctx.dcp!.allGather(b.commBuffer(qAll), [nd, n, latent], 1);
    qAll = s.adopt(b.fromCommBuffer(gathered, [nd, wsz * n, latent], ctx.dtype));
  }
  const out = s.alloc([nd, wsz * n, lkv], ctx.dtype);
  const lse = s.alloc([nd, wsz * n], 'f32');
  b.mlaDecode(
    qAll,
    cache,
    { blockTable: step.decodeBlockTable!, seqLens: step.decodeSeqLens! },
    ctx.softmaxScale,
    out,
    lse,
  );
  let merged = out;
  if (wsz > 1) {
    const r = await lseCombine(b, ctx.dcp!, out, lse, { mode: ctx.dcpCombine });
    merged = s.adopt(r.out);
  }
  const ov = s.alloc([nd, n, c.vHeadDim], ctx.dtype);
  b.headMatmul(merged, w.wUV, ov, true);
  return b.reshape(ov, [nd, n * c.vHeadDim]);
}

/**
 * Prefill rows (spec §5): causal attention among the new tokens with this rank's heads, plus
 * non-causal attention to the cached context gathered from every DCP rank, merged by LSE.
 * Returns `[np, N·v]`.
 */
async function prefill<T extends Tensor, B>(
  ctx: LayerContext<T, B>,
  w: AttnWeights<T>,
  q: T,
  kvCn: T,
  kPe: T,
  cache: T,
): Promise<T> {
  const { backend: b, scope: s, config: c, plan, step } = ctx;
  const np = plan.prefillRows.length;
  const n = ctx.heads;
  const nope = c.qkNopeHeadDim;
  const dv = c.vHeadDim;
  const qk = nope + c.qkRopeHeadDim;
  const qp = b.reshape(pick(ctx, q, step.prefillRows, np), [np, n, qk]);
  const kvP = pick(ctx, kvCn, step.prefillRows, np);
  const kPeP = pick(ctx, kPe, step.prefillRows, np);
  const kvb = s.alloc([np, n * (nope + dv)], ctx.dtype);
  b.linear(kvP, w.kvB, kvb);
  const [kNope, v] = split(ctx, b.reshape(kvb, [np * n, nope + dv]), nope, dv);
  const out = s.alloc([np, n, dv], ctx.dtype);
  const lse = s.alloc([np, n], 'f32');
  const meta = { cuSeqLensQ: step.cuQ!, cuSeqLensK: step.cuQ!, causal: true };
  b.attention(
    qp,
    b.reshape(kNope, [np, n, nope]),
    kPeP,
    b.reshape(v, [np, n, dv]),
    meta,
    ctx.softmaxScale,
    out,
    lse,
  );
  const latent = c.kvLoraRank + c.qkRopeHeadDim;
  const wsz = ctx.dcpLayout.size;
  for (const ch of step.ctxChunks) {
    if (ch.kept === 0) continue; // every rank sees the same counts, so all skip together
    const local = s.alloc([ch.padded, latent], cache.dtype);
    const gather = { blockTable: step.prefillBlockTable!, cuSeqLens: ch.cuPadded, seqStarts: ch.seqStarts };
    b.gatherCache(cache, gather, local);
    let all = local;
    if (wsz > 1) {
      const buf = await ctx.dcp!.allGather(b.commBuffer(local), [ch.padded, latent], 0);
      all = s.adopt(b.fromCommBuffer(buf, [wsz * ch.padded, latent], cache.dtype));
    }
    const rows = s.alloc([ch.kept, latent], cache.dtype);
    b.gatherRows(all, ch.reorg!, rows);
    const [ckv, ckpe] = split(ctx, rows, c.kvLoraRank, c.qkRopeHeadDim);
    const ckvb = s.alloc([ch.kept, n * (nope + dv)], ctx.dtype);
    b.linear(ckv, w.kvB, ckvb);
    const [ck, cv] = split(ctx, b.reshape(ckvb, [ch.kept * n, nope + dv]), nope, dv);
    const cout = s.alloc([np, n, dv], ctx.dtype);
    const clse = s.alloc([np, n], 'f32');
    const cmeta = { cuSeqLensQ: step.cuQ!, cuSeqLensK: ch.cuKept, causal: false };
    const ckr = b.reshape(ck, [ch.kept, n, nope]);
    b.attention(qp, ckr, ckpe, b.reshape(cv, [ch.kept, n, dv]), cmeta, ctx.softmaxScale, cout, clse);
    b.mergeAttnStates(out, lse, cout, clse, out, lse);
  }
  return b.reshape(out, [np, n * dv]);
}

/**
 * One MLA attention block on this rank: projections, RoPE, KV write (owned tokens only), decode
 * and prefill paths, `o_proj` and the TP all-reduce. `x` is the normed input `[T, hidden]`.
 */
export async function mlaAttention<T extends Tensor, B>(
  ctx: LayerContext<T, B>,
  w: AttnWeights<T>,
  x: T,
  cache: T,
): Promise<T> {
  const { backend: b, scope: s, config: c, plan, step } = ctx;
  const t = plan.numTokens;
  const n = ctx.heads;
  const qk = c.qkNopeHeadDim + c.qkRopeHeadDim;
  const rope = c.qkRopeHeadDim;
  const lkv = c.kvLoraRank;
  const q = s.alloc([t, n * qk], ctx.dtype);
  if (w.qProj) b.linear(x, w.qProj, q);
  else {
    const lq = c.qLoraRank!;
    const qa = s.alloc([t, lq], ctx.dtype);
    b.linear(x, w.qA!, qa);
    if (w.qABias) addRowBias(ctx, qa, w.qABias);
    const qan = s.alloc([t, lq], ctx.dtype);
    b.rmsNorm(qa, w.qANorm!, 1e-6, qan); // HF builds q_a_layernorm with its default eps
    b.linear(qan, w.qB!, q);
  }
  b.rope(b.reshape(q, [t, n, qk]), step.ropeRows, step.cosSin, {
    headDim: qk,
    offset: c.qkNopeHeadDim,
    rotDim: rope,
    layout: 'interleaved',
  });
  const kva = s.alloc([t, lkv + rope], ctx.dtype);
  b.linear(x, w.kvA, kva);
  if (w.kvABias) addRowBias(ctx, kva, w.kvABias);
  const [kvC, kPe] = split(ctx, kva, lkv, rope);
  const kvCn = s.alloc([t, lkv], ctx.dtype);
  b.rmsNorm(kvC, w.kvANorm, 1e-6, kvCn); // HF: kv_a_layernorm with its default eps
  b.rope(b.reshape(kPe, [t, 1, rope]), step.ropeRows, step.cosSin, {
    headDim: rope,
    offset: 0,
    rotDim: rope,
    layout: 'interleaved',
  });
  b.writeKv(kvCn, kPe, step.slotMapping, cache);

  const nd = plan.decodeRows.length;
  const np = plan.prefillRows.length;
  const width = n * c.vHeadDim;
  const outD = nd > 0 ? await decode(ctx, w, q, cache) : null;
  const outP = np > 0 ? await prefill(ctx, w, q, kvCn, kPe, cache) : null;
  let attnOut: T;
  if (plan.inOrder && (!outD || !outP)) attnOut = (outD ?? outP)!;
  else {
    const stacked = s.alloc([t, width], ctx.dtype);
    if (outD) b.copyColumns(outD, 0, b.sliceRows(stacked, 0, nd), 0, width);
    if (outP) b.copyColumns(outP, 0, b.sliceRows(stacked, nd, np), 0, width);
    attnOut = stacked;
    if (!plan.inOrder) {
      attnOut = s.alloc([t, width], ctx.dtype);
      b.gatherRows(stacked, step.inverseOrder!, attnOut);
    }
  }
  const o = s.alloc([t, c.hiddenSize], ctx.dtype);
  b.linear(attnOut, w.oProj, o);
  if (w.oBias) addRowBias(ctx, o, w.oBias);
  return tpAllReduce(ctx, o);
}
