import type { Tensor } from '@dcp/backend';
import { type LayerContext, tpAllReduce } from './context.js';
import type { MlpWeights, MoeWeights } from './layer-weights.js';

/** SwiGLU MLP on this rank's slice of the intermediate dim (before the TP all-reduce). */
function mlpPartial<T extends Tensor, B>(ctx: LayerContext<T, B>, x: T, w: MlpWeights<T>): T {
  const b = ctx.backend;
  const n = x.shape[0]!;
  const gu = ctx.scope.alloc([n, 2 * w.inter], ctx.dtype);
  b.linear(x, w.gateUp, gu);
  const act = ctx.scope.alloc([n, w.inter], ctx.dtype);
  b.siluMul(gu, act);
  const out = ctx.scope.alloc([n, ctx.config.hiddenSize], ctx.dtype);
  b.linear(act, w.down, out);
  return out;
}

/** Dense MLP: column-parallel gate/up, row-parallel down, TP all-reduce. */
export async function denseMlp<T extends Tensor, B>(
  ctx: LayerContext<T, B>,
  x: T,
  w: MlpWeights<T>,
): Promise<T> {
  return tpAllReduce(ctx, mlpPartial(ctx, x, w));
}

/**
 * DeepSeek-V2 MoE: f32 router, softmax top-k (greedy or group-limited), this rank's experts,
 * the shared experts' slice, then one TP all-reduce of the sum.
 */
export async function moeMlp<T extends Tensor, B>(
  ctx: LayerContext<T, B>,
  x: T,
  w: MoeWeights<T>,
): Promise<T> {
  const b = ctx.backend;
  const c = ctx.config;
  const n = x.shape[0]!;
  const logits = ctx.scope.alloc([n, c.nRoutedExperts], 'f32');
  b.linear(x, w.gate, logits);
  const ids = ctx.scope.alloc([n, c.numExpertsPerTok], 'i32');
  const weights = ctx.scope.alloc([n, c.numExpertsPerTok], 'f32');
  b.moeRoute(
    logits,
    {
      topK: c.numExpertsPerTok,
      method: c.topkMethod,
      nGroup: c.nGroup,
      topkGroup: c.topkGroup,
      normTopkProb: c.normTopkProb,
      routedScalingFactor: c.routedScalingFactor,
    },
    ids,
    weights,
  );
  const out = ctx.scope.alloc([n, c.hiddenSize], ctx.dtype);
  if (w.gateUp && w.down) b.moeExperts(x, ids, weights, w.gateUp, w.down, w.expertStart, out);
  else b.fill(out, 0);
  if (w.shared) b.add(out, mlpPartial(ctx, x, w.shared), out);
  return tpAllReduce(ctx, out);
}
