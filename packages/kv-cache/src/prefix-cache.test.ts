import { describe, expect, it } from 'vitest';
import { hashBlockTokens } from './block-hash.js';
import { createKVCacheManager } from './manager.js';
import { makeRequest, range } from './test-util.js';

/** blockSize 4, dcp 1, 10 usable blocks unless told otherwise. */
const manager = (numBlocks = 11, extra: object = {}) =>
  createKVCacheManager({ numBlocks, blockSize: 4, ...extra });

describe('PagedKVCacheManager: prefix caching', () => {
  it('hits full blocks across requests and shares them', () => {
    const kv = manager();
    const a = makeRequest('a', range(0, 10));
    kv.allocateSlots(a, 10);
    const b = makeRequest('b', [...range(0, 8), 100, 101, 102]);
    const hit = kv.getComputedBlocks(b);
    expect(hit).toMatchObject({ numComputedTokens: 8, blocks: { blockIds: [1, 2] } });
    expect(
      kv.allocateSlots(b, 3, { numNewComputedTokens: 8, newComputedBlocks: hit.blocks })?.blockIds,
    ).toEqual([4]);
    expect(kv.getBlockIds('b')).toEqual([1, 2, 4]);
    expect(kv.blockPool.blocks.map((x) => x.refCount).slice(1, 5)).toEqual([2, 2, 1, 1]);
    expect(kv.getNumCommonPrefixBlocks('b', 2)).toBe(2);
    expect(kv.takeStats()).toEqual({ requests: 1, queries: 11, hits: 8, reset: false });
    expect(kv.takeStats()).toEqual({ requests: 0, queries: 0, hits: 0, reset: false });
  });

  it('always recomputes the last token (hit capped below the sequence length)', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 12)), 12);
    expect(kv.getComputedBlocks(makeRequest('b', range(0, 8))).numComputedTokens).toBe(4);
    expect(kv.getComputedBlocks(makeRequest('c', range(0, 9))).numComputedTokens).toBe(8);
    expect(kv.getComputedBlocks(makeRequest('d', range(0, 1))).numComputedTokens).toBe(0);
  });

  it('does not cache a partial last block until it fills', () => {
    const kv = manager();
    const a = makeRequest('a', range(0, 10));
    kv.allocateSlots(a, 10);
    a.numComputedTokens = 10;
    const probe = () => kv.getComputedBlocks(makeRequest('p', range(0, 13))).numComputedTokens;
    expect(probe()).toBe(8);
    a.allTokenIds.push(10);
    kv.allocateSlots(a, 1);
    a.numComputedTokens = 11;
    expect(probe()).toBe(8);
    a.allTokenIds.push(11);
    kv.allocateSlots(a, 1);
    expect(probe()).toBe(12);
  });

  it('evicts the least recently freed block first, tail blocks before head blocks', () => {
    const kv = manager(5);
    const a = makeRequest('a', range(0, 8));
    const b = makeRequest('b', range(100, 8));
    kv.allocateSlots(a, 8);
    kv.allocateSlots(b, 8);
    kv.free(a);
    kv.free(b);
    expect(kv.blockPool.freeBlockIds()).toEqual([2, 1, 4, 3]);
    expect(kv.allocateSlots(makeRequest('d', range(500, 3)), 3)?.blockIds).toEqual([2]);
    expect(kv.getComputedBlocks(makeRequest('a2', range(0, 9))).blocks.blockIds).toEqual([1]);
    expect(kv.getComputedBlocks(makeRequest('b2', range(100, 9))).blocks.blockIds).toEqual([3, 4]);
  });

  it('hits a cached block in the free queue and takes it out; counts it against free space', () => {
    const kv = manager(5);
    const a = makeRequest('a', range(0, 8));
    kv.allocateSlots(a, 8);
    kv.free(a);
    kv.allocateSlots(makeRequest('x', range(300, 4)), 4); // takes block 3, the head
    expect(kv.numFreeBlocks).toBe(3);
    // 8 hit tokens in 2 free cached blocks + 8 new tokens in 2 new blocks: 4 > 3 free.
    const big = makeRequest('big', [...range(0, 8), ...range(200, 8)]);
    const hit = kv.getComputedBlocks(big);
    expect(hit.blocks.blockIds).toEqual([1, 2]);
    expect(kv.allocateSlots(big, 8, { numNewComputedTokens: 8, newComputedBlocks: hit.blocks })).toBeNull();
    expect(kv.blockPool.freeBlockIds()).toEqual([4, 2, 1]);
    expect(kv.blockPool.blocks[1]!.refCount).toBe(0);
    const small = makeRequest('small', range(0, 9));
    const hit2 = kv.getComputedBlocks(small);
    expect(
      kv.allocateSlots(small, 1, { numNewComputedTokens: 8, newComputedBlocks: hit2.blocks })?.blockIds,
    ).toEqual([4]);
    expect(kv.getBlockIds('small')).toEqual([1, 2, 4]);
    expect(kv.blockPool.freeBlockIds()).toEqual([]);
  });

  it('chains hashes: a one-token change stops hits at its block even if later blocks match', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 12)), 12);
    const tokens = range(0, 13);
    tokens[5] = 999;
    expect(kv.getComputedBlocks(makeRequest('b', tokens)).numComputedTokens).toBe(4);
    tokens[5] = 5;
    tokens[1] = 999;
    expect(kv.getComputedBlocks(makeRequest('c', tokens)).numComputedTokens).toBe(0);
  });

  it('separates caches by extra keys (cache salt)', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 8), 'tenant-1'), 8);
    let n = 0;
    const q = (salt?: string | null) =>
      kv.getComputedBlocks(makeRequest(`q${n++}`, range(0, 9), salt)).numComputedTokens;
    expect(q('tenant-1')).toBe(8);
    expect(q('tenant-2')).toBe(0);
    expect(q(null)).toBe(0);
    kv.allocateSlots(makeRequest('b', range(0, 8)), 8);
    expect(q(undefined)).toBe(8);
    expect(q('tenant-2')).toBe(0);
  });

  it('keeps hash state per request id until free(); catches an id reused with other content', () => {
    const kv = manager();
    kv.allocateSlots(makeRequest('a', range(0, 8), 's'), 8);
    const q = makeRequest('q', range(0, 9), 's');
    expect(kv.getComputedBlocks(q).numComputedTokens).toBe(8);
    expect(() => kv.getComputedBlocks(makeRequest('q', range(0, 9), 't'))).toThrow(/cacheSalt changed/);
    expect(() => kv.getComputedBlocks(makeRequest('q', range(0, 3), 's'))).toThrow(/shrank/);
    kv.free(q);
    expect(kv.getComputedBlocks(makeRequest('q', range(0, 9), 't')).numComputedTokens).toBe(0);
  });

  it('hashes incrementally: decode steps hash each new full block once', () => {
    let calls = 0;
    const kv = manager(11, {
      hashFn: (p: string | null, t: ArrayLike<number>, e: readonly (string | number)[] | null) => {
        calls++;
        return hashBlockTokens(p, t, e);
      },
    });
    const a = makeRequest('a', range(0, 16));
    kv.getComputedBlocks(a);
    expect(calls).toBe(4);
    kv.allocateSlots(a, 16);
    a.numComputedTokens = 16;
    for (let i = 0; i < 8; i++) {
      a.allTokenIds.push(1000 + i);
      kv.allocateSlots(a, 1);
      a.numComputedTokens++;
    }
    expect(calls).toBe(6);
  });

  it('refuses a stale hit whose block was evicted in between', () => {
    const kv = manager(3);
    const a = makeRequest('a', range(0, 4));
    kv.allocateSlots(a, 4);
    kv.free(a);
    const b = makeRequest('b', range(0, 5));
    const hit = kv.getComputedBlocks(b);
    expect(hit.blocks.blockIds).toEqual([1]);
    const x = makeRequest('x', range(50, 8));
    kv.allocateSlots(x, 8); // evicts block 1
    kv.free(x);
    expect(() => kv.allocateSlots(b, 1, { numNewComputedTokens: 4, newComputedBlocks: hit.blocks })).toThrow(
      /stale/,
    );
  });

  it('resets only when no block is in use, and reports it in stats', () => {
    const kv = manager();
    const a = makeRequest('a', range(0, 8));
    kv.allocateSlots(a, 8);
    expect(kv.resetPrefixCache()).toBe(false);
    kv.free(a);
    expect(kv.resetPrefixCache()).toBe(true);
    expect(kv.getComputedBlocks(makeRequest('b', range(0, 9))).numComputedTokens).toBe(0);
    expect(kv.takeStats().reset).toBe(true);
  });

  it('emits stored / removed / cleared events when enabled', () => {
    const kv = manager(3, { enableKvCacheEvents: true });
    const a = makeRequest('a', range(0, 9));
    kv.allocateSlots(a, 8);
    const h0 = hashBlockTokens(null, range(0, 4));
    const h1 = hashBlockTokens(h0, range(4, 4));
    expect(kv.takeEvents()).toEqual([
      { type: 'stored', blockHashes: [h0, h1], parentBlockHash: null, tokenIds: range(0, 8), blockSize: 4 },
    ]);
    kv.free(a);
    kv.allocateSlots(makeRequest('b', range(50, 2)), 2);
    expect(kv.takeEvents()).toEqual([{ type: 'removed', blockHashes: [h1] }]);
    expect(manager().takeEvents()).toEqual([]);
  });

  it('chains exactly the hashBlockTokens hashes, salt in the first block only', () => {
    const kv = manager(11, { enableKvCacheEvents: true });
    kv.allocateSlots(makeRequest('a', range(40, 13), 'salt-1'), 13);
    const h0 = hashBlockTokens(null, range(40, 4), ['salt-1']);
    const h1 = hashBlockTokens(h0, range(44, 4));
    const h2 = hashBlockTokens(h1, range(48, 4));
    expect(kv.takeEvents()).toEqual([
      {
        type: 'stored',
        blockHashes: [h0, h1, h2],
        parentBlockHash: null,
        tokenIds: range(40, 12),
        blockSize: 4,
      },
    ]);
  });

  it('does no hashing or hits with prefix caching disabled', () => {
    const kv = manager(11, { enablePrefixCaching: false });
    kv.allocateSlots(makeRequest('a', range(0, 8)), 8);
    expect(kv.getComputedBlocks(makeRequest('b', range(0, 9)))).toEqual({
      blocks: kv.emptyBlocks(),
      numComputedTokens: 0,
    });
    expect(kv.blockPool.numCachedBlocks).toBe(0);
  });
});
