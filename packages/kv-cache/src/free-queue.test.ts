import { describe, expect, it } from 'vitest';
import { makeBlock } from './block.js';
import { FreeBlockQueue } from './free-queue.js';

describe('FreeBlockQueue', () => {
  it('pops in insertion order, removes from the middle and appends at the tail', () => {
    const blocks = [1, 2, 3, 4, 5].map(makeBlock);
    const b = (id: number) => blocks[id - 1]!;
    const q = new FreeBlockQueue(blocks);
    expect(q.ids()).toEqual([1, 2, 3, 4, 5]);
    q.remove(b(3));
    expect(q.ids()).toEqual([1, 2, 4, 5]);
    expect(q.has(b(3))).toBe(false);
    expect(q.popLeft()).toBe(b(1));
    q.append(b(1));
    q.append(b(3));
    expect(q.ids()).toEqual([2, 4, 5, 1, 3]);
    q.remove(b(5));
    q.remove(b(2));
    q.remove(b(3));
    expect(q.ids()).toEqual([4, 1]);
    expect(q.length).toBe(2);
    expect(q.popLeft()).toBe(b(4));
    expect(q.popLeft()).toBe(b(1));
    expect(q.length).toBe(0);
    expect(() => q.popLeft()).toThrow(/empty/);
  });

  it('refuses double insertion and removing an absent block', () => {
    const block = makeBlock(1);
    const q = new FreeBlockQueue([block]);
    expect(() => q.append(block)).toThrow(/already in the free queue/);
    q.remove(block);
    expect(() => q.remove(block)).toThrow(/not in the free queue/);
  });
});
