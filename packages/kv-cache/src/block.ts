import type { BlockHash } from './block-hash.js';

/**
 * One block id: a physical block of `blockSize` slots on every rank of the DCP group, holding one
 * virtual block of `blockSize × dcp` tokens. Plain data, mutated only by its `BlockPool`.
 */
export interface KVCacheBlock {
  /** Index in the pool, in [0, numBlocks). Id 0 is the null block. */
  readonly blockId: number;
  /** Number of requests whose block table holds this block. */
  refCount: number;
  /** Hash of the full virtual block it holds, when registered in the prefix cache; else null. */
  blockHash: BlockHash | null;
  /** Previous block in the free queue (null when not free). */
  prevFree: KVCacheBlock | null;
  /** Next block in the free queue (null when not free). */
  nextFree: KVCacheBlock | null;
}

/** A fresh, unreferenced, uncached block. */
export function makeBlock(blockId: number): KVCacheBlock {
  return { blockId, refCount: 0, blockHash: null, prevFree: null, nextFree: null };
}
