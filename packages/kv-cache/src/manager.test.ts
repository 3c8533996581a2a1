import { describe, expect, it } from 'vitest';
import { createKVCacheManager } from './manager.js';
import { makeRequest, range } from './test-util.js';

/** blockSize 4, dcp 1, 10 usable blocks unless told otherwise. */
const manager = (numBlocks = 11, extra: object = {}) =>
  createKVCacheManager({ numBlocks, blockSize: 4, ...extra });

describe('PagedKVCacheManager: allocation', () => {
  it('allocates ceil(tokens / block) blocks and frees them tail first', () => {
    const kv = manager();
    const a = makeRequest('a', range(0, 10));
    expect(kv.getComputedBlocks(a).numComputedTokens).toBe(0);
    expect(kv.allocateSlots(a, 10)?.blockIds).toEqual([1, 2, 3]);
    expect(kv.getBlockIds('a')).toEqual([1, 2, 3]);
    expect(kv.getNumBlocks('a')).toBe(3);
    expect(kv.numFreeBlocks).toBe(7);
    expect(kv.usage).toBeCloseTo(0.3, 12);
    kv.free(a);
    expect(kv.blockPool.freeBlockIds()).toEqual([4, 5, 6, 7, 8, 9, 10, 3, 2, 1]);
    expect(kv.getBlockIds('a')).toEqual([]);
    expect(kv.usage).toBe(0);
  });

  it('grows a running request only when it crosses a block boundary, with lookahead', () => {
    const kv = manager();
    const a = makeRequest('a', range(0, 7));
    kv.allocateSlots(a, 7);
    a.numComputedTokens = 7;
    a.allTokenIds.push(100);
    expect(kv.allocateSlots(a, 1)?.blockIds).toEqual([]);
    a.numComputedTokens = 8;
    a.allTokenIds.push(101);
    expect(kv.allocateSlots(a, 1)?.blockIds).toEqual([3]);
    expect(kv.allocateSlots(a, 1, { numLookaheadTokens: 8 })?.blockIds).toEqual([4, 5]);
  });

  it('returns null and changes nothing when there is no room (never partial)', () => {
    const kv = manager(5);
    const a = makeRequest('a', range(0, 12));
    kv.allocateSlots(a, 12);
    const b = makeRequest('b', range(50, 8));
    expect(kv.allocateSlots(b, 8)).toBeNull();
    expect(kv.getBlockIds('b')).toEqual([]);
    expect(kv.numFreeBlocks).toBe(1);
    expect(kv.allocateSlots(b, 4)?.blockIds).toEqual([4]);
  });

  it('caps slots at maxModelLen', () => {
    const kv = manager(11, { maxModelLen: 10 });
    expect(
      kv.allocateSlots(makeRequest('a', range(0, 10)), 10, { numLookaheadTokens: 20 })?.blockIds,
    ).toEqual([1, 2, 3]);
  });

  it('rejects bad options and arguments with the field named', () => {
    expect(() => createKVCacheManager({ numBlocks: 1, blockSize: 4 })).toThrow(/numBlocks/);
    expect(() => createKVCacheManager({ numBlocks: 4, blockSize: 0 })).toThrow(/blockSize/);
    expect(() => createKVCacheManager({ numBlocks: 4, blockSize: 4, dcp: 1.5 })).toThrow(/dcp/);
    expect(() => createKVCacheManager({ numBlocks: 4, blockSize: 4, maxModelLen: 0 })).toThrow(/maxModelLen/);
    const kv = manager();
    const a = makeRequest('a', range(0, 4));
    expect(() => kv.allocateSlots(a, -1)).toThrow(/numNewTokens/);
    expect(() => kv.allocateSlots(a, 1, { numLookaheadTokens: 0.5 })).toThrow(/numLookaheadTokens/);
    expect(() => kv.allocateSlots(a, 1, { numNewComputedTokens: 4 })).toThrow(/numNewComputedTokens/);
    expect(() => kv.allocateSlots({ ...a, numComputedTokens: -1 }, 1)).toThrow(/numComputedTokens/);
    expect(() => kv.getComputedBlocks({ ...a, allTokenIds: 'x' as never })).toThrow(/allTokenIds/);
    expect(() => kv.getComputedBlocks({ ...a, cacheSalt: 3 as never })).toThrow(/cacheSalt/);
  });

  it('refuses a prefix hit for a request that already holds blocks; free() of an unknown request is a no-op', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 8)), 8);
    const b = makeRequest('b', range(0, 9));
    const hit = kv.getComputedBlocks(b);
    kv.allocateSlots(b, 1);
    expect(() => kv.allocateSlots(b, 1, { numNewComputedTokens: 8, newComputedBlocks: hit.blocks })).toThrow(
      /already has computed tokens or blocks/,
    );
    const free = kv.numFreeBlocks;
    kv.free(makeRequest('nobody', [1, 2, 3]));
    expect(kv.numFreeBlocks).toBe(free);
  });

  it('counts the leading blocks every running request shares', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 12)), 12);
    const b = makeRequest('b', [...range(0, 8), 77, 78]);
    const hit = kv.getComputedBlocks(b);
    kv.allocateSlots(b, 2, { numNewComputedTokens: hit.numComputedTokens, newComputedBlocks: hit.blocks });
    expect(kv.getNumCommonPrefixBlocks('b', 2)).toBe(2);
    expect(kv.getNumCommonPrefixBlocks('a', 2)).toBe(2);
    expect(kv.getNumCommonPrefixBlocks('a', 3)).toBe(0);
    expect(kv.getNumCommonPrefixBlocks('a', 1)).toBe(0);
  });
});
