import type { KVCacheManager } from '@dcp/kv-cache';
import { checkStepOutput } from './check-output.js';
import { InvalidRequestError, SchedulerStateError } from './errors.js';
import { type ResolvedSchedulerOptions, resolveOptions, type SchedulerOptions } from './options.js';
import { type Entry, insertSorted, WaitingQueue } from './queue.js';
import { createRequest } from './request.js';
import { appendToken } from './stop.js';
import type {
  CachedRequestData,
  NewRequestData,
  Request,
  RequestInput,
  RequestOutput,
  SchedulerOutput,
  SchedulerStats,
} from './types.js';

/**
 * Token-budget continuous batching, after vLLM v1: no prefill or decode phases; each step hands
 * out at most `maxNumBatchedTokens` tokens so that every request's `numComputedTokens` catches up
 * with its token count, running requests first (preempting by recompute when the KV cache is
 * full), then waiting ones (up to `maxNumSeqs` running). Drive it as
 * `out = schedule(); run the model; updateFromOutput(out, sampled)`.
 */
export class Scheduler {
  private readonly o: ResolvedSchedulerOptions;
  private readonly kv: KVCacheManager;
  private readonly requests = new Map<string, Entry>();
  private readonly waiting: WaitingQueue;
  private running: Entry[] = [];
  private finishedIds: string[] = [];
  private readonly unapplied = new Set<number>();
  private seq = 0;
  private step = 0;
  private preemptions = 0;
  private queries = 0;
  private hits = 0;

  constructor(options: SchedulerOptions) {
    this.o = resolveOptions(options);
    this.kv = this.o.kvCacheManager;
    this.waiting = new WaitingQueue(this.o.policy);
  }

  /**
   * Validates and queues a request; returns the tracked `Request`. Throws `InvalidRequestError`
   * for a bad field, a duplicate id, or a prompt longer than `maxModelLen`.
   */
  addRequest(input: RequestInput): Request {
    const req = createRequest(input, this.o.clock(), this.o);
    if (this.requests.has(req.requestId)) {
      throw new InvalidRequestError(`request ${JSON.stringify(req.requestId)}: requestId is already in use`);
    }
    const e: Entry = { req, seq: this.seq++ };
    this.requests.set(req.requestId, e);
    this.waiting.push(e);
    return req;
  }

  /** Plans the next step. */
  schedule(): SchedulerOutput {
    const step = ++this.step;
    const { maxNumBatchedTokens, maxNumSeqs, enableChunkedPrefill, longPrefillTokenThreshold: cap } = this.o;
    const kv = this.kv;
    const running = this.running;
    let budget = maxNumBatchedTokens;
    const cached: CachedRequestData[] = [];
    const preempted: string[] = [];
    let total = 0;

    // Decodes still to visit: a prefill chunk leaves one token of budget for each of them.
    let decodesLeft = 0;
    if (enableChunkedPrefill) for (const e of running) if (pending(e.req) === 1) decodesLeft++;

    let i = 0;
    while (i < running.length && budget > 0) {
      const e = running[i]!;
      const req = e.req;
      let n = pending(req);
      if (n === 1) {
        decodesLeft--;
      } else if (n > 1) {
        if (cap > 0 && n > cap) n = cap;
        n = Math.min(n, budget - decodesLeft);
      }
      n = Math.min(n, budget);
      if (n <= 0) {
        i++;
        continue;
      }
      let blocks = kv.allocateSlots(req, n);
      while (blocks === null) {
        // `running` is kept in service order, so the victim (last) was not granted tokens yet
        // this step: its fresh blocks may already be hashed, and must not be freed uncomputed.
        const victim = running.pop()!;
        if (enableChunkedPrefill && victim !== e && pending(victim.req) === 1) decodesLeft--;
        this.preempt(victim);
        preempted.push(victim.req.requestId);
        if (victim === e) break;
        blocks = kv.allocateSlots(req, n);
      }
      if (blocks === null) break;
      const c = req.numComputedTokens;
      cached.push({
        requestId: req.requestId,
        newBlockIds: blocks.blockIds.length === 0 ? [] : blocks.blockIds.slice(),
        numComputedTokens: c,
        numScheduledTokens: n,
        tokenIds: n === 1 ? [req.allTokenIds[c]!] : req.allTokenIds.slice(c, c + n),
      });
      // Safe to advance now: a victim is never a request already granted tokens this step.
      req.numComputedTokens = c + n;
      budget -= n;
      total += n;
      i++;
    }

    const newData: NewRequestData[] = [];
    // Like vLLM, admit nobody in a step that had to preempt.
    while (preempted.length === 0 && budget > 0 && running.length < maxNumSeqs) {
      const e = this.waiting.peek();
      if (e === undefined) break;
      const req = e.req;
      const hit = kv.getComputedBlocks(req);
      let n = req.allTokenIds.length - hit.numComputedTokens;
      if (!enableChunkedPrefill && n > budget) break;
      if (cap > 0 && n > cap) n = cap;
      n = Math.min(n, budget);
      const blocks =
        hit.numComputedTokens > 0
          ? kv.allocateSlots(req, n, {
              numNewComputedTokens: hit.numComputedTokens,
              newComputedBlocks: hit.blocks,
            })
          : kv.allocateSlots(req, n);
      if (blocks === null) break;
      this.waiting.pop();
      req.status = 'running';
      req.numComputedTokens = hit.numComputedTokens;
      if (req.numCachedTokens < 0) req.numCachedTokens = hit.numComputedTokens;
      this.queries += req.allTokenIds.length;
      this.hits += hit.numComputedTokens;
      insertSorted(running, e, this.o.policy);
      newData.push({
        requestId: req.requestId,
        promptTokenIds: req.promptTokenIds.slice(),
        outputTokenIds: req.outputTokenIds.slice(),
        sampling: { ...req.sampling, stopTokenIds: req.sampling.stopTokenIds.slice() },
        blockIds: kv.getBlockIds(req.requestId).slice(),
        numComputedTokens: req.numComputedTokens,
        numScheduledTokens: n,
        tokenIds: req.allTokenIds.slice(req.numComputedTokens, req.numComputedTokens + n),
      });
      req.numComputedTokens += n;
      budget -= n;
      total += n;
    }

    const finishedRequestIds = this.finishedIds;
    this.finishedIds = [];
    this.unapplied.add(step);
    return {
      step,
      scheduledNewRequests: newData,
      scheduledCachedRequests: cached,
      totalNumScheduledTokens: total,
      finishedRequestIds,
      preemptedRequestIds: preempted,
    };
  }

  /**
   * Applies one step's sampled tokens (`sampled[requestId]`, one or more per request whose
   * scheduled tokens reached its end; entries for a prefill chunk that did not are ignored).
   * Appends them, applies stop conditions, frees finished requests' blocks, and returns an output
   * for every scheduled request still live. Requests aborted since the step are skipped.
   */
  updateFromOutput(
    output: SchedulerOutput,
    sampled: Readonly<Record<string, readonly number[]>>,
  ): RequestOutput[] {
    if (!this.unapplied.has(output?.step)) {
      throw new SchedulerStateError(`step ${String(output?.step)} was not scheduled or was already applied`);
    }
    const live = checkStepOutput(output, sampled, (id) => this.requests.get(id)?.req);
    this.unapplied.delete(output.step);
    const cached = output.scheduledCachedRequests;
    const fresh = output.scheduledNewRequests;
    const maxModelLen = this.o.maxModelLen;
    const outs: RequestOutput[] = [];
    let anyFinished = false;
    for (let k = 0; k < live.length; k++) {
      const req = live[k];
      if (req === undefined) continue;
      const it = k < cached.length ? cached[k]! : fresh[k - cached.length]!;
      const out: RequestOutput = {
        requestId: req.requestId,
        newTokenIds: [],
        finishReason: null,
        stopTokenId: null,
        numOutputTokens: 0,
      };
      if (it.numComputedTokens + it.numScheduledTokens >= req.allTokenIds.length) {
        for (const t of sampled[req.requestId]!) {
          out.newTokenIds.push(t);
          const stop = appendToken(req, t, maxModelLen);
          if (stop !== null) {
            out.finishReason = stop.reason;
            out.stopTokenId = stop.stopTokenId;
            this.finish(req, stop.reason, stop.stopTokenId);
            anyFinished = true;
            break;
          }
        }
      }
      out.numOutputTokens = req.outputTokenIds.length;
      outs.push(out);
    }
    if (anyFinished) this.running = this.running.filter((e) => e.req.status === 'running');
    return outs;
  }

  /**
   * Finishes the given requests now, wherever they are (waiting, running, mid-prefill), freeing
   * their blocks at once. Unknown or finished ids are ignored. Returns the ids it finished.
   */
  abort(requestIds: Iterable<string>, reason: 'abort' | 'error' = 'abort'): string[] {
    const done: string[] = [];
    let anyRunning = false;
    for (const id of requestIds) {
      const e = this.requests.get(id);
      if (e === undefined) continue;
      if (e.req.status === 'running') anyRunning = true;
      else this.waiting.markRemoved();
      this.finish(e.req, reason, null);
      done.push(id);
    }
    if (anyRunning) this.running = this.running.filter((e) => e.req.status === 'running');
    return done;
  }

  /** The tracked request, or undefined once it finished. */
  getRequest(requestId: string): Request | undefined {
    return this.requests.get(requestId)?.req;
  }

  /** Requests waiting or running. */
  get numUnfinishedRequests(): number {
    return this.requests.size;
  }

  /** Whether any request is waiting or running, or finished ids are yet to be reported. */
  hasPendingWork(): boolean {
    return this.requests.size > 0 || this.finishedIds.length > 0;
  }

  /** Counters for metrics. */
  getStats(): SchedulerStats {
    return {
      numRunning: this.running.length,
      numWaiting: this.waiting.size,
      numPreemptionsTotal: this.preemptions,
      kvCacheUsage: this.kv.usage,
      prefixCacheQueries: this.queries,
      prefixCacheHits: this.hits,
      prefixCacheHitRate: this.queries > 0 ? this.hits / this.queries : 0,
      numSteps: this.step,
    };
  }

  private finish(req: Request, reason: Request['finishReason'], stopTokenId: number | null): void {
    this.kv.free(req); // also drops the prefix-hash state a waiting request may have left
    req.status = 'finished';
    req.finishReason = reason;
    req.stopTokenId = stopTokenId;
    this.requests.delete(req.requestId);
    this.finishedIds.push(req.requestId);
  }

  private preempt(e: Entry): void {
    const req = e.req;
    this.kv.free(req);
    req.status = 'preempted';
    req.numComputedTokens = 0;
    req.numPreemptions++;
    this.preemptions++;
    this.waiting.push(e);
  }
}

/** Tokens of `req` not yet computed or scheduled. */
function pending(req: Request): number {
  return req.allTokenIds.length - req.numComputedTokens;
}
