import type { Request } from './types.js';

/** A request with the order it was added in (breaks ties between equal keys). */
export interface Entry {
  readonly req: Request;
  readonly seq: number;
}

/** Scheduling policy: `fcfs` serves by arrival; `priority` by (priority, arrival). */
export type SchedulingPolicy = 'fcfs' | 'priority';

/** Negative when `a` should be served before `b` under `policy`. */
export function compareEntries(policy: SchedulingPolicy, a: Entry, b: Entry): number {
  if (policy === 'priority' && a.req.priority !== b.req.priority) return a.req.priority - b.req.priority;
  if (a.req.arrivalTime !== b.req.arrivalTime) return a.req.arrivalTime - b.req.arrivalTime;
  return a.seq - b.seq;
}

/**
 * The waiting queue: a binary min-heap in service order. Removal of an arbitrary request (abort)
 * is lazy: finished requests are skipped when they reach the top.
 */
export class WaitingQueue {
  private heap: Entry[] = [];
  private live = 0;

  constructor(private readonly policy: SchedulingPolicy) {}

  /** Waiting requests, aborted ones excluded. */
  get size(): number {
    return this.live;
  }

  push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (compareEntries(this.policy, h[i]!, h[p]!) >= 0) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    this.live++;
  }

  /** The next request to serve, or undefined. */
  peek(): Entry | undefined {
    while (this.heap.length > 0 && this.heap[0]!.req.status === 'finished') this.popTop();
    return this.heap[0];
  }

  /** Removes and returns the next request to serve. */
  pop(): Entry | undefined {
    const top = this.peek();
    if (top !== undefined) {
      this.popTop();
      this.live--;
    }
    return top;
  }

  /** Records that a queued request was finished (aborted) in place; it is dropped lazily. */
  markRemoved(): void {
    this.live--;
  }

  private popTop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && compareEntries(this.policy, h[l]!, h[m]!) < 0) m = l;
      if (r < h.length && compareEntries(this.policy, h[r]!, h[m]!) < 0) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** Inserts `e` into `list` (sorted in service order) after every entry that is served before it. */
export function insertSorted(list: Entry[], e: Entry, policy: SchedulingPolicy): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareEntries(policy, list[mid]!, e) <= 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo === list.length) list.push(e);
  else list.splice(lo, 0, e);
}
