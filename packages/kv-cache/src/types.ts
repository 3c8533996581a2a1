/**
 * Public types of `@dcp/kv-cache`: the only door the scheduler has to KV memory.
 *
 * Under decode context parallelism (DCP size W) every block id names one physical block of
 * `blockSize` slots on each rank of the DCP group, so the manager, the hashing and prefix-cache
 * hits all work in *virtual blocks* of `blockSize × W` tokens. Which rank stores which token of a
 * virtual block is `@dcp/parallel-state`'s `slotMapping`.
 */

/** Options of a `KVCacheManager`. */
export interface KVCacheManagerOptions {
  /** Physical blocks per rank, including the null block (id 0), which is never handed out. */
  numBlocks: number;
  /** Tokens per physical block on one rank (the kernel block size). */
  blockSize: number;
  /** DCP size W (≥ 1): a virtual block holds `blockSize × dcp` tokens. */
  dcp?: number;
  /** Enable prefix caching (hash full virtual blocks, share them across requests). Default true. */
  enablePrefixCaching?: boolean;
  /** Largest sequence length a request may reach; bounds its block table. */
  maxModelLen?: number;
  /** Queue block `stored` / `removed` / `cleared` events for `takeEvents()`. Default false. */
  enableKvCacheEvents?: boolean;
  /**
   * Block hash function (default: SHA-256, `hashBlockTokens`). It must be collision-resistant: a hit
   * is trusted without comparing token ids. `parent` is null for a sequence's first block.
   */
  hashFn?: (
    parent: string | null,
    tokens: ArrayLike<number>,
    extraKeys: readonly (string | number)[] | null,
  ) => string;
}

/** The view of a request the manager needs (the scheduler's `Request` satisfies it). */
export interface KVCacheRequest {
  /** Unique id. */
  readonly requestId: string;
  /** Every token of the request so far: prompt then output. */
  readonly allTokenIds: readonly number[];
  /** Number of prompt tokens (a prefix of `allTokenIds`). */
  readonly numPromptTokens: number;
  /** Tokens whose KV is already in the cache (computed in earlier steps or hit in the prefix cache). */
  readonly numComputedTokens: number;
  /** Optional extra key mixed into every block hash (e.g. a per-tenant cache salt). */
  readonly cacheSalt?: string | null;
}

/**
 * Opaque set of blocks exchanged between the manager and the scheduler. Only the manager looks
 * inside; callers read block ids through `blockIds`.
 */
export interface KVCacheBlocks {
  /** The block ids, in order. */
  readonly blockIds: readonly number[];
  /** Brand: only a `KVCacheManager` makes these. */
  readonly __kvCacheBlocks: true;
}

/** Result of a prefix-cache lookup. */
export interface ComputedBlocks {
  /** Cached blocks covering the longest hit (whole virtual blocks). */
  blocks: KVCacheBlocks;
  /** Tokens covered by the hit: a multiple of the virtual block size, always < the prompt length. */
  numComputedTokens: number;
}

/** Options of `allocateSlots`. */
export interface AllocateOptions {
  /** Tokens newly found in the prefix cache (from `getComputedBlocks`) for this request. */
  numNewComputedTokens?: number;
  /** The blocks of that hit. */
  newComputedBlocks?: KVCacheBlocks;
  /** Extra slots to reserve beyond the new tokens (speculative decoding). */
  numLookaheadTokens?: number;
}

/** Prefix-cache counters since the last `takeStats()`. */
export interface PrefixCacheStats {
  /** Requests looked up. */
  requests: number;
  /** Tokens queried. */
  queries: number;
  /** Tokens hit. */
  hits: number;
  /** Whether the cache was reset in the period. */
  reset: boolean;
}

/** A block-pool event, for a future KV connector. */
export type KVCacheEvent =
  | {
      type: 'stored';
      blockHashes: string[];
      parentBlockHash: string | null;
      tokenIds: number[];
      blockSize: number;
    }
  | { type: 'removed'; blockHashes: string[] }
  | { type: 'cleared' };

/** The KV-cache manager the scheduler talks to. */
export interface KVCacheManager {
  /** Tokens per virtual block (`blockSize × dcp`). */
  readonly virtualBlockSize: number;
  /** Physical blocks per rank, null block included. */
  readonly numBlocks: number;
  /** Token capacity across the DCP group: `(numBlocks − 1) × blockSize × dcp`. */
  readonly tokenCapacity: number;
  /** Fraction of usable blocks in use, in [0, 1]. */
  readonly usage: number;
  /** Free usable blocks right now (cached-but-free blocks count as free). */
  readonly numFreeBlocks: number;

  /** Longest prefix-cache hit for a waiting request (capped so the last prompt token is recomputed). */
  getComputedBlocks(request: KVCacheRequest): ComputedBlocks;

  /**
   * Reserves slots for `numNewTokens` more tokens of `request` (after its `numComputedTokens` plus
   * any new prefix hit). Returns the newly allocated blocks, or `null` when there is no room —
   * never a partial allocation.
   */
  allocateSlots(
    request: KVCacheRequest,
    numNewTokens: number,
    options?: AllocateOptions,
  ): KVCacheBlocks | null;

  /** Frees every block of the request, tail first (so tail blocks are evicted first). */
  free(request: KVCacheRequest): void;

  /** Block ids of a request's block table, in order. */
  getBlockIds(requestId: string): readonly number[];

  /** An empty `KVCacheBlocks`. */
  emptyBlocks(): KVCacheBlocks;

  /** Drops every cached hash; refused (returns false) while any block is in use. */
  resetPrefixCache(): boolean;

  /** Returns and clears the prefix-cache counters. */
  takeStats(): PrefixCacheStats;

  /** Returns and clears queued block events. */
  takeEvents(): KVCacheEvent[];
}
