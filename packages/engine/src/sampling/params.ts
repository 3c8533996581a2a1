/** Per-request sampling parameters, as plain data (vLLM's names in camelCase). */
export interface SamplingParams {
  /** 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 or -1 disables. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 disables. */
  topP?: number;
  /** Drop tokens whose probability is below minP × the top probability; 0 disables. */
  minP?: number;
  /** Seed of this request's random draws; same seed → same tokens in any layout. */
  seed?: number;
  /** Number of top log-probabilities to return with each sampled token (0: only the sampled one). */
  logprobs?: number | null;
}

/** Checks sampling parameters; returns the reasons they are invalid (empty when valid). */
export function validateSamplingParams(p: SamplingParams): string[] {
  const reasons: string[] = [];
  const t = p.temperature ?? 1;
  if (!Number.isFinite(t) || t < 0) reasons.push(`temperature must be a finite number >= 0, got ${t}`);
  const k = p.topK ?? 0;
  if (!Number.isInteger(k) || k < -1)
    reasons.push(`top_k must be an integer >= -1 (-1 or 0 disables), got ${k}`);
  const tp = p.topP ?? 1;
  if (!(tp > 0 && tp <= 1)) reasons.push(`top_p must be in (0, 1], got ${tp}`);
  const mp = p.minP ?? 0;
  if (!(mp >= 0 && mp <= 1)) reasons.push(`min_p must be in [0, 1], got ${mp}`);
  if (p.seed !== undefined && !Number.isSafeInteger(p.seed))
    reasons.push(`seed must be an integer, got ${p.seed}`);
  const lp = p.logprobs ?? 0;
  if (!Number.isInteger(lp) || lp < 0 || lp > 20)
    reasons.push(`logprobs must be an integer in [0, 20], got ${lp}`);
  return reasons;
}
