import type { FinishReason, Request } from './types.js';

/** Why `appendToken` ended a request, or null when it goes on. */
export interface StopResult {
  reason: FinishReason;
  stopTokenId: number | null;
}

/**
 * Appends one sampled token to `request` and applies the stop conditions in this order: EOS
 * (unless `ignoreEos`) and stop token ids, both only after the first `minTokens` outputs, then
 * `maxTokens` and `maxModelLen` (reason `length`). A stop token stays in the output.
 */
export function appendToken(request: Request, token: number, maxModelLen: number): StopResult | null {
  request.outputTokenIds.push(token);
  request.allTokenIds.push(token);
  const s = request.sampling;
  const numOut = request.outputTokenIds.length;
  if (numOut > s.minTokens) {
    if (!s.ignoreEos && token === s.eosTokenId) return { reason: 'stop', stopTokenId: null };
    if (s.stopTokenIds.length > 0 && s.stopTokenIds.includes(token))
      return { reason: 'stop', stopTokenId: token };
  }
  if (numOut >= s.maxTokens || request.allTokenIds.length >= maxModelLen) {
    return { reason: 'length', stopTokenId: null };
  }
  return null;
}
