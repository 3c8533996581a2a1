import { slotMapping } from '@dcp/parallel-state';
import type { SchedulerOutput } from '@dcp/scheduler';

/** This rank's view of the DCP layout. */
export interface RankLayout {
  /** Tokens per physical block. */
  blockSize: number;
  dcp: number;
  dcpRank: number;
  interleave: number;
}

/** One scheduled request, in batch order. */
export interface ScheduledRequest {
  requestId: string;
  /** Rows of this request in the step (new tokens). */
  queryLen: number;
  /** Tokens already in the KV cache. */
  computedLen: number;
  /** All tokens known after this step's inputs (prompt + outputs). */
  numTokens: number;
}

/** The plain inputs of one forward step on one rank. */
export interface RankBatch {
  requests: ScheduledRequest[];
  tokenIds: Int32Array;
  positions: Int32Array;
  queryLens: number[];
  computedLens: number[];
  blockTables: Int32Array[];
  /** This rank's cache slot per row (−1: another DCP rank stores that token). */
  slotMapping: Int32Array;
}

interface Tracked {
  blockIds: number[];
  tokens: number[];
}

/**
 * Keeps each request's block table and token ids across steps from the scheduler's plain output
 * alone (new requests bring all of it; running ones bring new block ids and new tokens), and
 * builds each step's rank inputs: positions, block tables, and this rank's own slot mapping.
 * Every rank runs one, on the same `SchedulerOutput`, and derives only its own slots.
 */
export class BatchBuilder {
  private readonly reqs = new Map<string, Tracked>();

  constructor(private readonly layout: RankLayout) {}

  /** Number of requests tracked (for leak checks). */
  get size(): number {
    return this.reqs.size;
  }

  /** Updates the tracked requests with `s` and returns this step's inputs. */
  build(s: SchedulerOutput): RankBatch {
    for (const id of s.finishedRequestIds) this.reqs.delete(id);
    for (const id of s.preemptedRequestIds) this.reqs.delete(id);
    const order: { id: string; computed: number; ids: number[] }[] = [];
    for (const r of s.scheduledCachedRequests) {
      const t = this.reqs.get(r.requestId);
      if (!t) throw new Error(`scheduler output names unknown running request ${r.requestId}`);
      t.blockIds.push(...r.newBlockIds);
      order.push({ id: r.requestId, computed: r.numComputedTokens, ids: r.tokenIds });
    }
    for (const r of s.scheduledNewRequests) {
      this.reqs.set(r.requestId, {
        blockIds: [...r.blockIds],
        tokens: [...r.promptTokenIds, ...r.outputTokenIds],
      });
      order.push({ id: r.requestId, computed: r.numComputedTokens, ids: r.tokenIds });
    }
    const n = s.totalNumScheduledTokens;
    const tokenIds = new Int32Array(n);
    const positions = new Int32Array(n);
    const slots = new Int32Array(n);
    const requests: ScheduledRequest[] = [];
    const blockTables: Int32Array[] = [];
    let row = 0;
    for (const o of order) {
      const t = this.reqs.get(o.id)!;
      t.tokens.length = Math.max(t.tokens.length, o.computed);
      for (let k = 0; k < o.ids.length; k++) t.tokens[o.computed + k] = o.ids[k]!;
      const pos = new Int32Array(o.ids.length);
      for (let k = 0; k < o.ids.length; k++) pos[k] = o.computed + k;
      tokenIds.set(o.ids, row);
      positions.set(pos, row);
      const table = Int32Array.from(t.blockIds);
      slots.set(slotMapping(pos, table, this.layout), row);
      blockTables.push(table);
      requests.push({
        requestId: o.id,
        queryLen: o.ids.length,
        computedLen: o.computed,
        numTokens: t.tokens.length,
      });
      row += o.ids.length;
    }
    if (row !== n) throw new Error(`scheduler output has ${row} token ids but totalNumScheduledTokens ${n}`);
    return {
      requests,
      tokenIds,
      positions,
      queryLens: requests.map((r) => r.queryLen),
      computedLens: requests.map((r) => r.computedLen),
      blockTables,
      slotMapping: slots,
    };
  }
}
