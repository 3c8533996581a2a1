import type { KVCacheRequest } from './types.js';

/** A mutable request view for tests, shaped like the scheduler's request. */
export interface TestRequest extends KVCacheRequest {
  allTokenIds: number[];
  numComputedTokens: number;
  cacheSalt?: string | null;
}

/** A waiting request with prompt `tokens`. */
export function makeRequest(
  requestId: string,
  tokens: readonly number[],
  cacheSalt?: string | null,
): TestRequest {
  return {
    requestId,
    allTokenIds: [...tokens],
    numPromptTokens: tokens.length,
    numComputedTokens: 0,
    cacheSalt,
  };
}

/** `[start, start + 1, …, start + n − 1]`. */
export function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

export { mulberry32 } from '@dcp/testkit';
