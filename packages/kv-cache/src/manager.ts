import type { KVCacheBlock } from './block.js';
import type { BlockHash, BlockHashFn } from './block-hash.js';
import { BlockPool } from './block-pool.js';
import { extendHashes, newRequestState, type RequestState } from './request-state.js';
import type {
  AllocateOptions,
  ComputedBlocks,
  KVCacheBlocks,
  KVCacheEvent,
  KVCacheManager,
  KVCacheManagerOptions,
  KVCacheRequest,
  PrefixCacheStats,
} from './types.js';
import { checkCount, checkManagerOptions, checkRequest } from './validate.js';

/**
 * The paged KV-cache manager (vLLM v1 semantics) over virtual blocks of `blockSize × dcp` tokens.
 * Use `createKVCacheManager`; the extra members here are for schedulers and tests that need more
 * than the `KVCacheManager` interface.
 */
export class PagedKVCacheManager implements KVCacheManager {
  /** Tokens per physical block on one rank. */
  readonly blockSize: number;
  /** DCP size W. */
  readonly dcp: number;
  readonly virtualBlockSize: number;
  readonly numBlocks: number;
  readonly tokenCapacity: number;
  /** Whether full blocks are hashed and shared. */
  readonly enablePrefixCaching: boolean;
  /** The underlying pool (inspect only; mutating it breaks the manager's bookkeeping). */
  readonly blockPool: BlockPool;
  private readonly maxModelLen: number;
  private readonly hashFn: BlockHashFn | null;
  private readonly requests = new Map<string, RequestState>();
  private readonly empty: KVCacheBlocks = makeBlocks([]);
  private stats: PrefixCacheStats = { requests: 0, queries: 0, hits: 0, reset: false };

  constructor(options: KVCacheManagerOptions) {
    const { numBlocks, blockSize, dcp, maxModelLen, enablePrefixCaching, enableEvents, hashFn } =
      checkManagerOptions(options);
    this.blockSize = blockSize;
    this.dcp = dcp;
    this.virtualBlockSize = blockSize * dcp;
    this.numBlocks = numBlocks;
    this.tokenCapacity = (numBlocks - 1) * this.virtualBlockSize;
    this.maxModelLen = maxModelLen;
    this.enablePrefixCaching = enablePrefixCaching;
    this.hashFn = hashFn;
    this.blockPool = new BlockPool(numBlocks, {
      enablePrefixCaching: this.enablePrefixCaching,
      enableEvents,
    });
  }

  get usage(): number {
    return this.blockPool.usage;
  }

  get numFreeBlocks(): number {
    return this.blockPool.numFreeBlocks;
  }

  getComputedBlocks(request: KVCacheRequest): ComputedBlocks {
    checkRequest(request, 'getComputedBlocks');
    if (!this.enablePrefixCaching) return { blocks: this.empty, numComputedTokens: 0 };
    const state = this.state(request);
    const numTokens = request.allTokenIds.length;
    // The last token is always recomputed: its logits are needed to sample the next one.
    const maxHitBlocks = Math.floor(Math.max(numTokens - 1, 0) / this.virtualBlockSize);
    const ids: number[] = [];
    for (let i = 0; i < maxHitBlocks; i++) {
      const block = this.blockPool.getCachedBlock(state.hashes[i] as BlockHash);
      if (block === undefined) break;
      ids.push(block.blockId);
    }
    const numComputedTokens = ids.length * this.virtualBlockSize;
    this.stats.requests++;
    this.stats.queries += numTokens;
    this.stats.hits += numComputedTokens;
    return { blocks: makeBlocks(ids), numComputedTokens };
  }

  allocateSlots(
    request: KVCacheRequest,
    numNewTokens: number,
    options: AllocateOptions = {},
  ): KVCacheBlocks | null {
    checkRequest(request, 'allocateSlots');
    checkCount(numNewTokens, 'allocateSlots: numNewTokens');
    const numNewComputedTokens = checkCount(
      options.numNewComputedTokens ?? 0,
      'AllocateOptions.numNewComputedTokens',
    );
    const numLookahead = checkCount(options.numLookaheadTokens ?? 0, 'AllocateOptions.numLookaheadTokens');
    const vbs = this.virtualBlockSize;
    const state = this.state(request);
    const hitIds = options.newComputedBlocks?.blockIds ?? [];
    if (hitIds.length * vbs !== numNewComputedTokens) {
      throw new RangeError(
        `AllocateOptions.numNewComputedTokens (${numNewComputedTokens}) must equal newComputedBlocks (${hitIds.length}) × virtualBlockSize (${vbs})`,
      );
    }
    const hitBlocks = this.resolveHit(request, state, hitIds);

    const numComputed = request.numComputedTokens + numNewComputedTokens;
    const numNeedSlot = Math.min(numComputed + numNewTokens + numLookahead, this.maxModelLen);
    const numRequired = Math.ceil(numNeedSlot / vbs);
    const numNew = Math.max(0, numRequired - state.blocks.length - hitBlocks.length);
    // Hit blocks sitting in the free queue leave it when touched: count them against free space.
    let numEvictableHits = 0;
    for (const block of hitBlocks) if (block.refCount === 0) numEvictableHits++;
    if (numNew + numEvictableHits > this.blockPool.numFreeBlocks) return null;

    if (hitBlocks.length > 0) {
      this.blockPool.touch(hitBlocks);
      for (const block of hitBlocks) state.blocks.push(block);
      state.numCachedBlocks = state.blocks.length;
    }
    const fresh = this.blockPool.getNewBlocks(numNew);
    for (const block of fresh) state.blocks.push(block);

    if (this.enablePrefixCaching) {
      const numToCache = Math.min(numComputed + numNewTokens, request.allTokenIds.length);
      const numFull = Math.min(Math.floor(numToCache / vbs), state.blocks.length);
      if (numFull > state.numCachedBlocks) {
        extendHashes(state, request.allTokenIds, this.virtualBlockSize, this.hashFn);
        this.blockPool.cacheFullBlocks(
          state.blocks,
          state.hashes,
          state.numCachedBlocks,
          numFull,
          request.allTokenIds,
          vbs,
        );
        state.numCachedBlocks = numFull;
      }
    }
    return makeBlocks(fresh.map((b) => b.blockId));
  }

  free(request: KVCacheRequest): void {
    checkRequest(request, 'free');
    const state = this.requests.get(request.requestId);
    if (state === undefined) return;
    this.requests.delete(request.requestId);
    // Tail first: the tail blocks join the free queue first and so are evicted first.
    this.blockPool.freeBlocks(state.blocks.slice().reverse());
  }

  getBlockIds(requestId: string): readonly number[] {
    const state = this.requests.get(requestId);
    return state === undefined ? [] : state.blocks.map((b) => b.blockId);
  }

  /** Number of blocks in the request's block table (0 if it holds none). */
  getNumBlocks(requestId: string): number {
    return this.requests.get(requestId)?.blocks.length ?? 0;
  }

  /**
   * Leading blocks of the request that every one of `numRunningRequests` running requests shares
   * (reference count equal to that number), for cascade attention.
   */
  getNumCommonPrefixBlocks(requestId: string, numRunningRequests: number): number {
    const blocks = this.requests.get(requestId)?.blocks ?? [];
    let n = 0;
    while (n < blocks.length && (blocks[n] as KVCacheBlock).refCount === numRunningRequests) n++;
    return n;
  }

  emptyBlocks(): KVCacheBlocks {
    return this.empty;
  }

  resetPrefixCache(): boolean {
    if (!this.blockPool.resetPrefixCache()) return false;
    // Requests still tracked hold no blocks (all blocks are free): drop their cached-block counts.
    for (const state of this.requests.values()) state.numCachedBlocks = 0;
    this.stats.reset = true;
    return true;
  }

  takeStats(): PrefixCacheStats {
    const out = this.stats;
    this.stats = { requests: 0, queries: 0, hits: 0, reset: false };
    return out;
  }

  takeEvents(): KVCacheEvent[] {
    return this.blockPool.takeEvents();
  }

  private state(request: KVCacheRequest): RequestState {
    const salt = request.cacheSalt ?? null;
    let state = this.requests.get(request.requestId);
    if (state === undefined) {
      state = newRequestState(salt);
      this.requests.set(request.requestId, state);
    } else if (
      state.salt !== salt ||
      request.allTokenIds.length < state.hashes.length * this.virtualBlockSize
    ) {
      throw new RangeError(
        `request ${request.requestId}: cacheSalt changed or allTokenIds shrank since it was first seen (a request id reused before free()?)`,
      );
    }
    if (this.enablePrefixCaching)
      extendHashes(state, request.allTokenIds, this.virtualBlockSize, this.hashFn);
    return state;
  }

  /** The pool blocks behind a hit from `getComputedBlocks`, checked to still hold this prefix. */
  private resolveHit(request: KVCacheRequest, state: RequestState, ids: readonly number[]): KVCacheBlock[] {
    if (ids.length === 0) return [];
    if (!this.enablePrefixCaching)
      throw new RangeError('AllocateOptions.newComputedBlocks: prefix caching is disabled');
    if (state.blocks.length > 0 || request.numComputedTokens > 0) {
      throw new RangeError(
        `AllocateOptions.newComputedBlocks: request ${request.requestId} already has computed tokens or blocks`,
      );
    }
    return ids.map((id, i) => {
      const block = this.blockPool.blocks[id];
      if (block === undefined || block.blockHash === null || block.blockHash !== state.hashes[i]) {
        throw new RangeError(
          `AllocateOptions.newComputedBlocks: block ${id} no longer holds block ${i} of request ${request.requestId} (stale hit: call getComputedBlocks again)`,
        );
      }
      return block;
    });
  }
}

function makeBlocks(blockIds: readonly number[]): KVCacheBlocks {
  return { blockIds, __kvCacheBlocks: true };
}

/** Creates a KV-cache manager. Throws a `RangeError` naming the field on bad options. */
export function createKVCacheManager(options: KVCacheManagerOptions): PagedKVCacheManager {
  return new PagedKVCacheManager(options);
}
