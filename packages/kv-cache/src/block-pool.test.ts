import { describe, expect, it } from 'vitest';
import { hashBlockTokens } from './block-hash.js';
import { BlockPool } from './block-pool.js';

const h = (n: number) => hashBlockTokens(null, [n]);

describe('BlockPool', () => {
  it('hands out blocks 1..n−1 in free-queue order, never the null block', () => {
    const pool = new BlockPool(5);
    expect(pool.numFreeBlocks).toBe(4);
    expect(pool.usage).toBe(0);
    const got = pool.getNewBlocks(4).map((b) => b.blockId);
    expect(got).toEqual([1, 2, 3, 4]);
    expect(pool.usage).toBe(1);
    expect(() => pool.getNewBlocks(1)).toThrow(/only 0 are free/);
    expect(pool.nullBlock.blockId).toBe(0);
    expect(() => pool.touch([pool.nullBlock])).toThrow(/null block/);
    expect(() => pool.freeBlocks([pool.nullBlock])).toThrow(/null block/);
  });

  it('counts references and frees in the given order', () => {
    const pool = new BlockPool(5);
    const [a, b, c] = pool.getNewBlocks(3);
    pool.touch([a!, b!]);
    expect([a!.refCount, b!.refCount, c!.refCount]).toEqual([2, 2, 1]);
    pool.freeBlocks([c!, b!, a!]);
    expect(pool.freeBlockIds()).toEqual([4, 3]);
    pool.freeBlocks([b!, a!]);
    expect(pool.freeBlockIds()).toEqual([4, 3, 2, 1]);
    expect(() => pool.freeBlocks([a!])).toThrow(/already free/);
    expect(pool.usage).toBe(0);
  });

  it('keeps hashes of free blocks until evicted, and a hit takes a block out of the queue', () => {
    const pool = new BlockPool(4, { enableEvents: true });
    const blocks = pool.getNewBlocks(2);
    pool.cacheFullBlocks(blocks, [h(1), h(2)], 0, 2, [10, 20], 1);
    pool.freeBlocks([blocks[1]!, blocks[0]!]);
    expect(pool.freeBlockIds()).toEqual([3, 2, 1]);
    expect(pool.getCachedBlock(h(1))?.blockId).toBe(1);
    pool.touch([pool.getCachedBlock(h(1))!]);
    expect(pool.freeBlockIds()).toEqual([3, 2]);
    const [x, y] = pool.getNewBlocks(2);
    expect([x!.blockId, y!.blockId]).toEqual([3, 2]);
    expect(pool.getCachedBlock(h(2))).toBeUndefined();
    expect(pool.getCachedBlock(h(1))?.blockId).toBe(1);
    expect(pool.takeEvents()).toEqual([
      { type: 'stored', blockHashes: [h(1), h(2)], parentBlockHash: null, tokenIds: [10, 20], blockSize: 1 },
      { type: 'removed', blockHashes: [h(2)] },
    ]);
    expect(pool.takeEvents()).toEqual([]);
  });

  it('registers a hash once; a duplicate block stays uncached', () => {
    const pool = new BlockPool(4);
    const [a, b] = pool.getNewBlocks(2);
    pool.cacheFullBlocks([a!], [h(1)], 0, 1, [1], 1);
    pool.cacheFullBlocks([b!], [h(1)], 0, 1, [1], 1);
    expect(pool.getCachedBlock(h(1))).toBe(a);
    expect(b!.blockHash).toBeNull();
    expect(pool.numCachedBlocks).toBe(1);
  });

  it('refuses resetPrefixCache while a block is in use', () => {
    const pool = new BlockPool(4, { enableEvents: true });
    const [a] = pool.getNewBlocks(1);
    pool.cacheFullBlocks([a!], [h(1)], 0, 1, [1], 1);
    expect(pool.resetPrefixCache()).toBe(false);
    expect(pool.getCachedBlock(h(1))).toBe(a);
    pool.freeBlocks([a!]);
    expect(pool.resetPrefixCache()).toBe(true);
    expect(pool.getCachedBlock(h(1))).toBeUndefined();
    expect(a!.blockHash).toBeNull();
    expect(pool.takeEvents().at(-1)).toEqual({ type: 'cleared' });
  });

  it('does nothing on cacheFullBlocks when prefix caching is off, and validates arguments', () => {
    const pool = new BlockPool(3, { enablePrefixCaching: false });
    const [a] = pool.getNewBlocks(1);
    pool.cacheFullBlocks([a!], [h(1)], 0, 1, [1], 1);
    expect(pool.getCachedBlock(h(1))).toBeUndefined();
    expect(() => new BlockPool(1)).toThrow(/numBlocks/);
    expect(() => pool.getNewBlocks(-1)).toThrow(/n must be/);
    expect(() => pool.touch([new BlockPool(3).blocks[1]!])).toThrow(/does not belong/);
  });
});
