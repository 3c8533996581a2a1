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

/** Small seeded PRNG (mulberry32) for reproducible random token ids. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
