import type { KVCacheBlock } from './block.js';
import { makeBlock } from './block.js';

/**
 * Free blocks in eviction order: a doubly linked list threaded through the blocks themselves
 * (`prevFree` / `nextFree`), so popping the head, appending at the tail and removing a block from
 * the middle (a cached free block hit again) are all O(1) and allocate nothing.
 */
export class FreeBlockQueue {
  private readonly head: KVCacheBlock = makeBlock(-1);
  private readonly tail: KVCacheBlock = makeBlock(-1);
  private size = 0;

  /** @param blocks initial free blocks, first to be evicted first */
  constructor(blocks: Iterable<KVCacheBlock>) {
    this.head.nextFree = this.tail;
    this.tail.prevFree = this.head;
    for (const block of blocks) this.append(block);
  }

  /** Number of blocks in the queue. */
  get length(): number {
    return this.size;
  }

  /** Whether `block` is in the queue. */
  has(block: KVCacheBlock): boolean {
    return block.prevFree !== null;
  }

  /** Removes and returns the block to evict next (the least recently freed). */
  popLeft(): KVCacheBlock {
    const block = this.head.nextFree;
    if (block === null || block === this.tail)
      throw new RangeError('FreeBlockQueue.popLeft: the queue is empty');
    this.remove(block);
    return block;
  }

  /** Removes `block` from anywhere in the queue. */
  remove(block: KVCacheBlock): void {
    const prev = block.prevFree;
    const next = block.nextFree;
    if (prev === null || next === null) {
      throw new RangeError(`FreeBlockQueue.remove: block ${block.blockId} is not in the free queue`);
    }
    prev.nextFree = next;
    next.prevFree = prev;
    block.prevFree = null;
    block.nextFree = null;
    this.size--;
  }

  /** Appends `block` at the tail (evicted last). */
  append(block: KVCacheBlock): void {
    if (block.prevFree !== null) {
      throw new RangeError(`FreeBlockQueue.append: block ${block.blockId} is already in the free queue`);
    }
    const last = this.tail.prevFree as KVCacheBlock;
    last.nextFree = block;
    block.prevFree = last;
    block.nextFree = this.tail;
    this.tail.prevFree = block;
    this.size++;
  }

  /** Block ids in eviction order (for inspection and tests; O(n)). */
  ids(): number[] {
    const out: number[] = [];
    for (let b = this.head.nextFree; b !== null && b !== this.tail; b = b.nextFree) out.push(b.blockId);
    return out;
  }
}
