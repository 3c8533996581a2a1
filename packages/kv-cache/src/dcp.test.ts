import { slotMapping } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { createKVCacheManager } from './manager.js';
import { makeRequest, range } from './test-util.js';

describe('PagedKVCacheManager under DCP (virtual blocks of blockSize × dcp tokens)', () => {
  it('sizes blocks and capacity by blockSize × dcp, and dcp = 1 is the plain case', () => {
    const kv = createKVCacheManager({ numBlocks: 11, blockSize: 2, dcp: 4 });
    expect(kv.virtualBlockSize).toBe(8);
    expect(kv.tokenCapacity).toBe(80);
    expect(kv.allocateSlots(makeRequest('a', range(0, 10)), 10)?.blockIds).toEqual([1, 2]);
    const plain = createKVCacheManager({ numBlocks: 11, blockSize: 2 });
    expect(plain.virtualBlockSize).toBe(2);
    expect(plain.tokenCapacity).toBe(20);
    expect(plain.allocateSlots(makeRequest('a', range(0, 10)), 10)?.blockIds).toEqual([1, 2, 3, 4, 5]);
  });

  it('hits only whole virtual blocks', () => {
    const prompt = range(0, 20);
    const sharing = (n: number) => [...prompt.slice(0, n), ...range(900, 5)];
    const dcp = createKVCacheManager({ numBlocks: 11, blockSize: 2, dcp: 4 });
    const plain = createKVCacheManager({ numBlocks: 11, blockSize: 2, dcp: 1 });
    dcp.allocateSlots(makeRequest('a', prompt), 20);
    plain.allocateSlots(makeRequest('a', prompt), 20);
    // 12 shared tokens: 6 physical-size blocks, but only 1 whole virtual block of 8.
    expect(dcp.getComputedBlocks(makeRequest('b', sharing(12))).numComputedTokens).toBe(8);
    expect(plain.getComputedBlocks(makeRequest('b', sharing(12))).numComputedTokens).toBe(12);
    expect(dcp.getComputedBlocks(makeRequest('c', sharing(16))).numComputedTokens).toBe(16);
    expect(dcp.getComputedBlocks(makeRequest('d', sharing(7))).numComputedTokens).toBe(0);
    // The third virtual block (tokens 16..19) is partial: never a hit.
    expect(dcp.getComputedBlocks(makeRequest('e', sharing(20))).numComputedTokens).toBe(16);
  });

  it('with slotMapping, every token of a block table is written exactly once, on its owning rank', () => {
    const blockSize = 2;
    const dcp = 4;
    const kv = createKVCacheManager({ numBlocks: 11, blockSize, dcp });
    kv.allocateSlots(makeRequest('x', range(0, 3)), 3); // shift ids so the table is not [1, 2]
    const r = makeRequest('r', range(100, 10));
    kv.allocateSlots(r, 10);
    const table = kv.getBlockIds('r');
    expect(table).toEqual([2, 3]);
    const positions = range(0, 10);
    const written = new Map<string, number>(); // `${rank}:${slot}` → position
    for (let rank = 0; rank < dcp; rank++) {
      const slots = slotMapping(positions, table, { blockSize, dcp, dcpRank: rank, interleave: 1 });
      // Independent expectation: inside virtual block v, rank `rank` owns positions ≡ rank (mod dcp)
      // and stores its k-th owned token at slot table[v] · blockSize + k.
      const seenInBlock = new Map<number, number>();
      positions.forEach((p, k) => {
        if (p % dcp !== rank) {
          expect(slots[k]).toBe(-1);
          return;
        }
        const v = Math.floor(p / (blockSize * dcp));
        const nth = seenInBlock.get(v) ?? 0;
        seenInBlock.set(v, nth + 1);
        expect(slots[k]).toBe(table[v]! * blockSize + nth);
        written.set(`${rank}:${slots[k]}`, p);
      });
    }
    expect(written.size).toBe(10);
    expect([...written.values()].sort((a, b) => a - b)).toEqual(positions);
  });
});
