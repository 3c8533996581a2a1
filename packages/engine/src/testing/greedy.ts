import type { AsyncLLM } from '../async-llm.js';

/** One greedy generation: its tokens and, per token, the gap between its top-2 logprobs. */
export interface GreedyRun {
  tokens: number[];
  /** top-1 − top-2 logprob of each generated step (near ties: small gaps). */
  gaps: number[];
}

/**
 * Greedy decoding of `maxTokens` tokens after `promptTokenIds` (EOS ignored), with the top-2
 * logprob gap of every step — what comparing two runs under a near-tie rule needs (tokens must
 * agree up to the first step whose gap is tiny). Throws on an error delta.
 */
export async function greedyWithGaps(
  llm: AsyncLLM,
  promptTokenIds: number[],
  maxTokens: number,
  requestId = 'greedy',
): Promise<GreedyRun> {
  const tokens: number[] = [];
  const gaps: number[] = [];
  for await (const d of llm.generate({
    requestId,
    promptTokenIds,
    params: { maxTokens, temperature: 0, logprobs: 2, ignoreEos: true },
  })) {
    if (d.finishReason === 'error') throw new Error(d.error);
    tokens.push(...d.newTokenIds);
    for (const lp of d.logprobs ?? []) gaps.push(lp.top[0]!.logprob - lp.top[1]!.logprob);
  }
  return { tokens, gaps };
}
