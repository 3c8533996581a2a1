/**
 * Test helpers (not exported by the package): a seeded PRNG, a fake model that keeps its "KV" in
 * the block tables the scheduler hands out, and an independent reference generator.
 */
import type { SchedulerOutput } from './types.js';

export { mulberry32 as prng } from '@dcp/testkit';

/** Integer in [lo, hi]. */
export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

const SEED_STATE = 0x811c9dc5;

/** The fake model's "KV" of a token: a rolling hash of the whole history up to it. */
export function mixState(prev: number, token: number): number {
  return Math.imul(prev ^ token ^ 0x9e3779b9, 0x01000193) >>> 0;
}

/** The fake model's next token given the state of the last token, over `vocab` ids. */
export function nextToken(state: number, vocab: number): number {
  return (Math.imul(state ^ (state >>> 13), 0x5bd1e995) >>> 0) % vocab;
}

/** Next token computed straight from a token history (no cache, no scheduler). */
export function referenceNextToken(tokens: readonly number[], vocab: number): number {
  let h = SEED_STATE;
  for (const t of tokens) h = mixState(h, t);
  return nextToken(h, vocab);
}

/** Stop rules, written again here from the spec so the test does not reuse the code under test. */
export interface RefSampling {
  maxTokens: number;
  minTokens?: number;
  stopTokenIds?: number[];
  ignoreEos?: boolean;
  eosTokenId?: number | null;
}

/** The whole output the fake model produces for `prompt`, with stop rules applied. */
export function referenceGenerate(
  prompt: readonly number[],
  s: RefSampling,
  vocab: number,
  maxModelLen: number,
): { tokens: number[]; reason: 'stop' | 'length' } {
  const all = [...prompt];
  const out: number[] = [];
  for (;;) {
    const t = referenceNextToken(all, vocab);
    all.push(t);
    out.push(t);
    const stops = (t === s.eosTokenId && !s.ignoreEos) || (s.stopTokenIds ?? []).includes(t);
    if (out.length > (s.minTokens ?? 0) && stops) return { tokens: out, reason: 'stop' };
    if (out.length >= s.maxTokens || all.length >= maxModelLen) return { tokens: out, reason: 'length' };
  }
}

interface WorkerReq {
  blockTable: number[];
  numComputed: number;
  numTokens: number;
}

/**
 * A fake model runner that rebuilds everything from (JSON round-tripped) `SchedulerOutput`s: it
 * writes each computed token's state into the slot its block table gives, reads the previous
 * token's state from the cache (so a wrong block id, a bad prefix hit or a block reused while
 * still in use changes the output), and samples when a request's tokens are all computed.
 */
export class FakeWorker {
  private readonly kv = new Map<number, Uint32Array>();
  private readonly reqs = new Map<string, WorkerReq>();

  constructor(
    private readonly virtualBlockSize: number,
    private readonly vocab: number,
  ) {}

  /** Runs one step; returns the sampled tokens. */
  execute(raw: SchedulerOutput): Record<string, number[]> {
    const out = JSON.parse(JSON.stringify(raw)) as SchedulerOutput;
    for (const id of out.finishedRequestIds) this.reqs.delete(id);
    for (const id of out.preemptedRequestIds) this.reqs.delete(id);
    const sampled: Record<string, number[]> = {};
    for (const c of out.scheduledCachedRequests) {
      const r = this.reqs.get(c.requestId);
      if (r === undefined) throw new Error(`worker: unknown cached request ${c.requestId}`);
      if (r.numComputed !== c.numComputedTokens) {
        throw new Error(
          `worker: ${c.requestId} computed ${r.numComputed}, scheduler says ${c.numComputedTokens}`,
        );
      }
      r.blockTable.push(...c.newBlockIds);
      this.run(c.requestId, r, c.tokenIds, sampled);
    }
    let total = 0;
    for (const c of out.scheduledCachedRequests) total += c.numScheduledTokens;
    for (const n of out.scheduledNewRequests) {
      if (this.reqs.has(n.requestId)) throw new Error(`worker: ${n.requestId} is new but already known`);
      const r: WorkerReq = {
        blockTable: [...n.blockIds],
        numComputed: n.numComputedTokens,
        numTokens: n.promptTokenIds.length + n.outputTokenIds.length,
      };
      const all = [...n.promptTokenIds, ...n.outputTokenIds];
      const expected = all.slice(n.numComputedTokens, n.numComputedTokens + n.numScheduledTokens);
      if (JSON.stringify(expected) !== JSON.stringify(n.tokenIds)) {
        throw new Error(`worker: ${n.requestId} tokenIds disagree with its prompt and outputs`);
      }
      this.reqs.set(n.requestId, r);
      this.run(n.requestId, r, n.tokenIds, sampled);
      total += n.numScheduledTokens;
    }
    if (total !== out.totalNumScheduledTokens) throw new Error('worker: totalNumScheduledTokens is wrong');
    return sampled;
  }

  private slot(r: WorkerReq, pos: number): [Uint32Array, number] {
    const vbs = this.virtualBlockSize;
    const id = r.blockTable[Math.floor(pos / vbs)];
    if (id === undefined) throw new Error(`worker: no block for position ${pos}`);
    let block = this.kv.get(id);
    if (block === undefined) {
      block = new Uint32Array(vbs);
      this.kv.set(id, block);
    }
    return [block, pos % vbs];
  }

  private run(id: string, r: WorkerReq, tokenIds: number[], sampled: Record<string, number[]>): void {
    let state = SEED_STATE;
    if (r.numComputed > 0) {
      const [b, o] = this.slot(r, r.numComputed - 1);
      state = b[o]!;
    }
    for (let k = 0; k < tokenIds.length; k++) {
      state = mixState(state, tokenIds[k]!);
      const [b, o] = this.slot(r, r.numComputed + k);
      b[o] = state;
    }
    r.numComputed += tokenIds.length;
    if (r.numComputed >= r.numTokens) {
      const t = nextToken(state, this.vocab);
      sampled[id] = [t];
      r.numTokens++;
    }
  }
}

/** Token ids `start … start + n − 1`. */
export function ids(n: number, start = 1): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}
