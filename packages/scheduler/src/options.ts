import type { KVCacheManager } from '@dcp/kv-cache';
import { SchedulerConfigError } from './errors.js';
import type { SchedulingPolicy } from './queue.js';

/** Options of a `Scheduler`. */
export interface SchedulerOptions {
  /** The KV-cache manager to allocate from (its virtual block size already includes DCP). */
  kvCacheManager: KVCacheManager;
  /** Token budget of one step, over all requests. Must be ≥ `maxNumSeqs`. */
  maxNumBatchedTokens: number;
  /** Most requests running at once. */
  maxNumSeqs: number;
  /** Longest sequence (prompt + output); must fit in the KV cache on its own. */
  maxModelLen: number;
  /**
   * Spread long prompts over several steps (default true). When false every prompt runs whole,
   * so `maxNumBatchedTokens` must be ≥ `maxModelLen`.
   */
  enableChunkedPrefill?: boolean;
  /** Largest prefill chunk of one request in one step (0 = no cap besides the budget). */
  longPrefillTokenThreshold?: number;
  /** `fcfs` (default) or `priority` (smaller `priority` first, then earlier arrival). */
  policy?: SchedulingPolicy;
  /** Default EOS token id for requests whose sampling parameters set none. */
  eosTokenId?: number | null;
  /** Clock for default arrival times, in ms (default `performance.now`). */
  clock?: () => number;
}

/** Options with defaults applied. */
export type ResolvedSchedulerOptions = Required<SchedulerOptions>;

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new SchedulerConfigError(`${name} must be an integer ≥ 1, got ${String(v)}`);
  }
  return v;
}

/** Validates `o` and fills defaults; throws `SchedulerConfigError` naming the option. */
export function resolveOptions(o: SchedulerOptions): ResolvedSchedulerOptions {
  const kv = o?.kvCacheManager;
  if (kv === null || typeof kv !== 'object' || typeof kv.allocateSlots !== 'function') {
    throw new SchedulerConfigError('kvCacheManager must be a KVCacheManager (from @dcp/kv-cache)');
  }
  const maxNumBatchedTokens = positiveInt('maxNumBatchedTokens', o.maxNumBatchedTokens);
  const maxNumSeqs = positiveInt('maxNumSeqs', o.maxNumSeqs);
  const maxModelLen = positiveInt('maxModelLen', o.maxModelLen);
  const enableChunkedPrefill = o.enableChunkedPrefill ?? true;
  const threshold = o.longPrefillTokenThreshold ?? 0;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new SchedulerConfigError(`longPrefillTokenThreshold must be an integer ≥ 0, got ${threshold}`);
  }
  if (threshold > 0 && !enableChunkedPrefill) {
    throw new SchedulerConfigError(
      'longPrefillTokenThreshold splits prompts into chunks, so it needs enableChunkedPrefill; set it to 0 or enable chunked prefill',
    );
  }
  if (maxNumBatchedTokens < maxNumSeqs) {
    throw new SchedulerConfigError(
      `maxNumBatchedTokens (${maxNumBatchedTokens}) must be ≥ maxNumSeqs (${maxNumSeqs}) so every running request can decode each step`,
    );
  }
  if (!enableChunkedPrefill && maxNumBatchedTokens < maxModelLen) {
    throw new SchedulerConfigError(
      `with enableChunkedPrefill false, maxNumBatchedTokens (${maxNumBatchedTokens}) must be ≥ maxModelLen (${maxModelLen}); raise it or enable chunked prefill`,
    );
  }
  if (maxModelLen > kv.tokenCapacity) {
    throw new SchedulerConfigError(
      `maxModelLen (${maxModelLen}) exceeds the KV cache's token capacity (${kv.tokenCapacity}); lower maxModelLen or give the cache more blocks`,
    );
  }
  const policy = o.policy ?? 'fcfs';
  if (policy !== 'fcfs' && policy !== 'priority') {
    throw new SchedulerConfigError(`policy must be 'fcfs' or 'priority', got ${String(policy)}`);
  }
  const eos = o.eosTokenId ?? null;
  if (eos !== null && (!Number.isSafeInteger(eos) || eos < 0)) {
    throw new SchedulerConfigError(`eosTokenId must be an integer ≥ 0 or null, got ${eos}`);
  }
  const clock = o.clock ?? (() => performance.now());
  if (typeof clock !== 'function') throw new SchedulerConfigError('clock must be a function returning ms');
  return {
    kvCacheManager: kv,
    maxNumBatchedTokens,
    maxNumSeqs,
    maxModelLen,
    enableChunkedPrefill,
    longPrefillTokenThreshold: threshold,
    policy,
    eosTokenId: eos,
    clock,
  };
}
