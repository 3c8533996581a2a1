import type { SamplingParams } from './params.js';
import { uniformAt } from './rng.js';
import { argmax, logSumExp, topKIndices } from './topk.js';

/** A token with its log-probability under the raw (unprocessed) distribution. */
export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** The outcome of sampling one position. */
export interface SampledToken extends TokenLogprob {
  /** The `logprobs` most likely tokens (raw distribution), most likely first; empty when not asked. */
  topLogprobs: TokenLogprob[];
}

/**
 * Samples one token from a row of vocabulary logits, as vLLM's sampler does: temperature, then
 * min-p, top-k and top-p filters, then one draw. Temperature 0 is greedy. The draw is a pure
 * function of (`seed`, `step`), so equal logits and seed give equal tokens in any layout.
 * Log-probabilities are those of the raw logits (vLLM's default).
 */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  seed: number,
  step: number,
): SampledToken {
  const t = params.temperature ?? 1;
  const tokenId = t === 0 ? argmax(logits) : drawFiltered(logits, params, t, uniformAt(seed, step));
  if (tokenId < 0) throw new Error('cannot sample from an empty or all-NaN logits row');
  const wantTop = params.logprobs ?? 0;
  const lse = logSumExp(logits);
  const topLogprobs =
    wantTop > 0
      ? topKIndices(logits, wantTop).map((id) => ({ tokenId: id, logprob: logits[id]! - lse }))
      : [];
  return { tokenId, logprob: logits[tokenId]! - lse, topLogprobs };
}

/** Applies the filters to exp((logit − max)/T) and draws with the uniform `u`. */
function drawFiltered(logits: Float32Array, params: SamplingParams, t: number, u: number): number {
  const n = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  if (!Number.isFinite(max)) return argmax(logits);
  const probs = new Float64Array(n);
  for (let i = 0; i < n; i++) probs[i] = Math.exp((logits[i]! - max) / t);
  // min-p: relative to the most likely token (whose unnormalised probability is exactly 1).
  const minP = params.minP ?? 0;
  if (minP > 0) for (let i = 0; i < n; i++) if (probs[i]! < minP) probs[i] = 0;
  const k = params.topK ?? 0;
  const topP = params.topP ?? 1;
  if ((k <= 0 || k >= n) && topP >= 1) return drawInIndexOrder(probs, u);
  const order = topKIndices(probs, k > 0 && k < n ? k : n);
  let total = 0;
  for (const i of order) total += probs[i]!;
  let kept = order.length;
  if (topP < 1) {
    let cum = 0;
    for (let j = 0; j < order.length; j++) {
      cum += probs[order[j]!]!;
      if (cum >= topP * total) {
        kept = j + 1;
        break;
      }
    }
  }
  let keptTotal = 0;
  for (let j = 0; j < kept; j++) keptTotal += probs[order[j]!]!;
  const target = u * keptTotal;
  let cum = 0;
  for (let j = 0; j < kept; j++) {
    cum += probs[order[j]!]!;
    if (target < cum) return order[j]!;
  }
  return order[kept - 1]!;
}

/** Draws from unnormalised probabilities without sorting (no top-k / top-p filter). */
function drawInIndexOrder(probs: Float64Array, u: number): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i]!;
  const target = u * total;
  let cum = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! <= 0) continue;
    cum += probs[i]!;
    last = i;
    if (target < cum) return i;
  }
  return last;
}
