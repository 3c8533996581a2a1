export type { KVCacheBlock } from './block.js';
export type { BlockHash, BlockHashFn, ExtraKeys } from './block-hash.js';
export { hashBlockTokens } from './block-hash.js';
export type { BlockPoolOptions } from './block-pool.js';
export { BlockPool } from './block-pool.js';
export { FreeBlockQueue } from './free-queue.js';
export { createKVCacheManager, PagedKVCacheManager } from './manager.js';
export type * from './types.js';
