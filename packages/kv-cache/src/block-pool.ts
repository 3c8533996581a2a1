import type { KVCacheBlock } from './block.js';
import { makeBlock } from './block.js';
import type { BlockHash } from './block-hash.js';
import { FreeBlockQueue } from './free-queue.js';
import type { KVCacheEvent } from './types.js';

/** Options of a `BlockPool`. */
export interface BlockPoolOptions {
  /** Keep hashes of full blocks so they can be shared and hit again. Default true. */
  enablePrefixCaching?: boolean;
  /** Queue `stored` / `removed` / `cleared` events for `takeEvents()`. Default false. */
  enableEvents?: boolean;
}

/**
 * The blocks of one rank (identical on every rank of a DCP group): reference counts, the free
 * queue in eviction order, and the prefix cache (`hash → block`).
 *
 * Block 0 is the null block: never handed out, never freed. A free block keeps its hash until it is
 * evicted (popped by `getNewBlocks`), so a later request can still hit it. Two blocks may end up
 * holding the same content (two requests computed it at once); only the first is registered, and
 * the second stays uncached — block tables are append-only, so nothing is de-duplicated.
 */
export class BlockPool {
  /** Blocks per rank, the null block included. */
  readonly numBlocks: number;
  /** Whether hashes are kept. */
  readonly enablePrefixCaching: boolean;
  /** Every block, indexed by id (read-only for callers). */
  readonly blocks: readonly KVCacheBlock[];
  /** Block 0, the placeholder that is never handed out. */
  readonly nullBlock: KVCacheBlock;
  private readonly freeQueue: FreeBlockQueue;
  private readonly cached = new Map<BlockHash, KVCacheBlock>();
  private readonly enableEvents: boolean;
  private events: KVCacheEvent[] = [];

  /** @param numBlocks physical blocks per rank including the null block; an integer ≥ 2 */
  constructor(numBlocks: number, options: BlockPoolOptions = {}) {
    if (!Number.isSafeInteger(numBlocks) || numBlocks < 2) {
      throw new RangeError(
        `BlockPool: numBlocks must be an integer >= 2 (block 0 is the null block), got ${numBlocks}`,
      );
    }
    this.numBlocks = numBlocks;
    this.enablePrefixCaching = options.enablePrefixCaching ?? true;
    this.enableEvents = options.enableEvents ?? false;
    const blocks: KVCacheBlock[] = [];
    for (let id = 0; id < numBlocks; id++) blocks.push(makeBlock(id));
    this.blocks = blocks;
    this.nullBlock = blocks[0] as KVCacheBlock;
    this.freeQueue = new FreeBlockQueue(blocks.slice(1));
  }

  /** Free usable blocks (cached-but-free blocks count as free). */
  get numFreeBlocks(): number {
    return this.freeQueue.length;
  }

  /** Fraction of usable blocks (null block excluded) that are referenced, in [0, 1]. */
  get usage(): number {
    return 1 - this.freeQueue.length / (this.numBlocks - 1);
  }

  /** Number of blocks registered in the prefix cache. */
  get numCachedBlocks(): number {
    return this.cached.size;
  }

  /** The block registered under `hash`, if any. */
  getCachedBlock(hash: BlockHash): KVCacheBlock | undefined {
    return this.cached.get(hash);
  }

  /** Whether `block` sits in the free queue. */
  isFree(block: KVCacheBlock): boolean {
    return this.freeQueue.has(block);
  }

  /** Free block ids in eviction order (O(n), for inspection). */
  freeBlockIds(): number[] {
    return this.freeQueue.ids();
  }

  /**
   * Takes `n` blocks from the head of the free queue (least recently freed first), evicting their
   * cached hashes, and returns them with reference count 1. Throws if fewer than `n` are free.
   */
  getNewBlocks(n: number): KVCacheBlock[] {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(`BlockPool.getNewBlocks: n must be an integer >= 0, got ${n}`);
    if (n > this.freeQueue.length) {
      throw new RangeError(
        `BlockPool.getNewBlocks: asked for ${n} blocks but only ${this.freeQueue.length} are free`,
      );
    }
    const out: KVCacheBlock[] = [];
    const removed: BlockHash[] = [];
    for (let i = 0; i < n; i++) {
      const block = this.freeQueue.popLeft();
      if (block.blockHash !== null) {
        this.cached.delete(block.blockHash);
        removed.push(block.blockHash);
        block.blockHash = null;
      }
      block.refCount = 1;
      out.push(block);
    }
    if (this.enableEvents && removed.length > 0) this.events.push({ type: 'removed', blockHashes: removed });
    return out;
  }

  /** Adds one reference to each block, taking free ones out of the free queue (a prefix-cache hit). */
  touch(blocks: readonly KVCacheBlock[]): void {
    for (const block of blocks) {
      this.check(block, 'touch');
      if (block.refCount === 0) this.freeQueue.remove(block);
      block.refCount++;
    }
  }

  /**
   * Drops one reference from each block; blocks reaching zero join the free queue's tail in the
   * given order, so the first of `ordered` is evicted first.
   */
  freeBlocks(ordered: readonly KVCacheBlock[]): void {
    for (const block of ordered) {
      this.check(block, 'freeBlocks');
      if (block.refCount <= 0)
        throw new RangeError(`BlockPool.freeBlocks: block ${block.blockId} is already free`);
      if (--block.refCount === 0) this.freeQueue.append(block);
    }
  }

  /**
   * Registers full blocks in the prefix cache: `blocks[i]` holds the tokens hashed as `hashes[i]`,
   * for `i` in `[from, to)`. A hash already registered to another block leaves this block uncached.
   * `tokenIds` (the sequence the hashes cover) and `blockSize` only feed `stored` events.
   */
  cacheFullBlocks(
    blocks: readonly KVCacheBlock[],
    hashes: readonly BlockHash[],
    from: number,
    to: number,
    tokenIds: readonly number[],
    blockSize: number,
  ): void {
    if (!this.enablePrefixCaching) return;
    let run: { start: number; hashes: BlockHash[] } | null = null;
    const flush = () => {
      if (run === null || !this.enableEvents) return;
      const start = run.start;
      this.events.push({
        type: 'stored',
        blockHashes: run.hashes,
        parentBlockHash: start > 0 ? (hashes[start - 1] ?? null) : null,
        tokenIds: tokenIds.slice(start * blockSize, (start + run.hashes.length) * blockSize),
        blockSize,
      });
    };
    for (let i = from; i < to; i++) {
      const block = blocks[i];
      const hash = hashes[i];
      if (block === undefined || hash === undefined) {
        throw new RangeError(`BlockPool.cacheFullBlocks: no block or hash at index ${i}`);
      }
      this.check(block, 'cacheFullBlocks');
      if (block.blockHash !== null || this.cached.has(hash)) {
        flush();
        run = null;
        continue;
      }
      block.blockHash = hash;
      this.cached.set(hash, block);
      if (run === null) run = { start: i, hashes: [] };
      run.hashes.push(hash);
    }
    flush();
  }

  /** Forgets every cached hash. Refused (returns false) while any block is referenced. */
  resetPrefixCache(): boolean {
    if (this.freeQueue.length !== this.numBlocks - 1) return false;
    this.cached.clear();
    for (const block of this.blocks) block.blockHash = null;
    if (this.enableEvents) this.events.push({ type: 'cleared' });
    return true;
  }

  /** Returns the queued events and clears the queue. */
  takeEvents(): KVCacheEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  private check(block: KVCacheBlock, where: string): void {
    if (this.blocks[block.blockId] !== block) {
      throw new RangeError(`BlockPool.${where}: block ${block.blockId} does not belong to this pool`);
    }
    if (block === this.nullBlock)
      throw new RangeError(`BlockPool.${where}: the null block (id 0) cannot be used`);
  }
}
