import { localSeqLen } from '@dcp/parallel-state';
import type { Scheduler, SchedulerOutput, SchedulerStats } from '@dcp/scheduler';
import { EngineDeadError, RequestError } from './errors.js';
import type { Executor } from './executor/executor.js';
import type { StepSampling } from './executor/protocol.js';
import type { CompletionDelta, FinishReason } from './outputs.js';
import type { EngineRequest, EngineSamplingParams } from './request-input.js';
import { validateSamplingParams } from './sampling/params.js';
import { randomSeed } from './sampling/rng.js';
import { IncrementalDetokenizer, type TokenDecoder } from './text/detokenizer.js';
import { StopStringMatcher } from './text/stop.js';

/** One choice of a request, as the driver tracks it. */
interface Choice {
  parentId: string;
  index: number;
  childId: string;
  params: EngineSamplingParams;
  seed: number;
  returnPromptLogits: boolean;
  detok: IncrementalDetokenizer | null;
  stops: StopStringMatcher | null;
  numPromptTokens: number;
}

/** What the engine is built from: a scheduler (with its KV manager), an executor, a tokenizer. */
export interface LLMEngineParts {
  scheduler: Scheduler;
  executor: Executor;
  /** Decodes output text; null works on token ids only (`--skip-tokenizer-init`). */
  tokenizer: TokenDecoder | null;
  /** Vocabulary size: prompt token ids must be below it. */
  vocabSize?: number;
  /** DCP layout and per-rank KV slots, for per-rank usage (default: dcp 1). */
  layout?: { dcp: number; interleave: number; slotsPerRank: number };
}

/**
 * The engine core: add requests, step, abort. Each `step()` schedules a batch, runs it on every
 * rank through the executor, feeds the sampled tokens back to the scheduler, and returns what
 * each completion gained (text, tokens, log-probabilities, finish).
 */
export class LLMEngine {
  private readonly choices = new Map<string, Choice>();
  private readonly byParent = new Map<string, string[]>();
  private pendingDeltas: CompletionDelta[] = [];

  constructor(private readonly parts: LLMEngineParts) {}

  /** Why the engine is dead, or null. */
  get dead(): string | null {
    return this.parts.executor.dead;
  }

  /** Adds a request (all its `n` choices); throws `RequestError` naming the bad field. */
  addRequest(req: EngineRequest): void {
    if (this.dead) throw new EngineDeadError(this.dead);
    if (this.byParent.has(req.requestId))
      throw new RequestError(`request id ${req.requestId} is already running`, 'request_id');
    const p = req.params ?? {};
    const reasons = validateSamplingParams(p);
    if (reasons.length > 0) throw new RequestError(reasons.join('; '), reasons[0]!.split(' ')[0]!);
    const vocab = this.parts.vocabSize;
    if (vocab !== undefined) {
      const bad = req.promptTokenIds.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
      if (bad >= 0) {
        throw new RequestError(
          `prompt token id ${req.promptTokenIds[bad]} at index ${bad} is outside the vocabulary [0, ${vocab})`,
          'prompt',
        );
      }
    }
    const n = p.n ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 128)
      throw new RequestError(`n must be an integer in [1, 128], got ${n}`, 'n');
    const baseSeed = p.seed ?? randomSeed();
    const ids: string[] = [];
    for (let index = 0; index < n; index++) {
      const childId = n === 1 ? req.requestId : `${req.requestId}#${index}`;
      try {
        this.parts.scheduler.addRequest({
          requestId: childId,
          promptTokenIds: req.promptTokenIds,
          sampling: {
            ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
            ...(p.minTokens !== undefined ? { minTokens: p.minTokens } : {}),
            stopTokenIds: p.stopTokenIds ?? [],
            ignoreEos: p.ignoreEos ?? false,
            temperature: p.temperature ?? 1,
            topP: p.topP ?? 1,
            topK: p.topK ?? 0,
            minP: p.minP ?? 0,
            seed: baseSeed + index,
            n: 1,
            logprobs: p.logprobs ?? null,
          },
          ...(req.priority !== undefined ? { priority: req.priority } : {}),
          // Teacher-forced requests need every prompt position computed: a salt of their own keeps
          // them from reading prefix-cache hits (vLLM skips the cache for prompt logprobs too).
          ...(req.returnPromptLogits
            ? { cacheSalt: `logits:${childId}:${randomSeed()}` }
            : req.cacheSalt !== undefined
              ? { cacheSalt: req.cacheSalt }
              : {}),
        });
      } catch (e) {
        this.parts.scheduler.abort(ids);
        for (const id of ids) this.choices.delete(id);
        throw new RequestError((e as Error).message, null);
      }
      const dec = this.parts.tokenizer;
      this.choices.set(childId, {
        parentId: req.requestId,
        index,
        childId,
        params: p,
        seed: baseSeed + index,
        returnPromptLogits: req.returnPromptLogits ?? false,
        detok: dec ? new IncrementalDetokenizer(dec, req.promptTokenIds, p.skipSpecialTokens ?? true) : null,
        stops: dec && p.stop && p.stop.length > 0 ? new StopStringMatcher(p.stop) : null,
        numPromptTokens: req.promptTokenIds.length,
      });
      ids.push(childId);
    }
    this.byParent.set(req.requestId, ids);
  }

  /** Aborts requests (every choice); their KV blocks are freed at once. */
  abort(requestIds: readonly string[]): void {
    for (const parent of requestIds) {
      const ids = this.byParent.get(parent);
      if (!ids) continue;
      this.parts.scheduler.abort(ids);
      for (const id of ids) this.finishChoice(id, 'abort', null);
    }
  }

  /** Whether any request is unfinished. */
  hasUnfinishedRequests(): boolean {
    return this.choices.size > 0 || this.pendingDeltas.length > 0;
  }

  /** Scheduler counters for metrics. */
  getStats(): SchedulerStats {
    return this.parts.scheduler.getStats();
  }

  /**
   * Share of each DCP rank's KV slots that hold tokens of unfinished requests (prefix-cached
   * blocks of finished requests not counted), from each request's computed length and the
   * interleaved layout.
   */
  kvUsagePerDcpRank(): number[] {
    const l = this.parts.layout ?? { dcp: 1, interleave: 1, slotsPerRank: 0 };
    const used = new Array<number>(l.dcp).fill(0);
    if (l.slotsPerRank <= 0) return used;
    for (const id of this.choices.keys()) {
      const n = this.parts.scheduler.getRequest(id)?.numComputedTokens ?? 0;
      for (let r = 0; r < l.dcp; r++)
        used[r]! += localSeqLen(n, { dcp: l.dcp, dcpRank: r, interleave: l.interleave });
    }
    return used.map((u) => u / l.slotsPerRank);
  }

  /** Runs one step; returns what every affected completion gained. */
  async step(): Promise<CompletionDelta[]> {
    const out = this.takePending();
    if (this.dead) return out.concat(this.failAll(this.dead));
    const schedule = this.parts.scheduler.schedule();
    if (schedule.totalNumScheduledTokens === 0) return out;
    let result: Awaited<ReturnType<Executor['execute']>>;
    try {
      result = await this.parts.executor.execute({ schedule, sampling: this.samplingFor(schedule) });
    } catch (e) {
      return out.concat(this.failAll((e as Error).message));
    }
    const sampled: Record<string, number[]> = {};
    for (const [id, o] of Object.entries(result.outputs))
      if (o.tokenId !== undefined) sampled[id] = [o.tokenId];
    const updates = this.parts.scheduler.updateFromOutput(schedule, sampled);
    const seen = new Set<string>();
    for (const u of updates) {
      seen.add(u.requestId);
      const c = this.choices.get(u.requestId);
      if (!c) continue;
      const o = result.outputs[u.requestId];
      out.push(this.delta(c, u.newTokenIds, o, u.finishReason, u.stopTokenId, u.numOutputTokens));
    }
    // Teacher-forced prefill chunks that sampled nothing still carry logits.
    for (const [id, o] of Object.entries(result.outputs)) {
      const c = this.choices.get(id);
      if (c && !seen.has(id) && o.logits) out.push(this.delta(c, [], o, null, null, 0));
    }
    return out;
  }

  /** Stops the ranks. */
  async shutdown(): Promise<void> {
    await this.parts.executor.shutdown();
  }

  private samplingFor(s: SchedulerOutput): Record<string, StepSampling> {
    const map: Record<string, StepSampling> = {};
    const add = (id: string, computed: number, scheduled: number) => {
      const c = this.choices.get(id);
      const req = this.parts.scheduler.getRequest(id);
      if (!c || !req) return;
      map[id] = {
        sample: computed + scheduled >= req.allTokenIds.length,
        params: c.params,
        seed: c.seed,
        outputIndex: req.outputTokenIds.length,
        ...(c.returnPromptLogits ? { returnLogits: true } : {}),
      };
    };
    for (const r of s.scheduledNewRequests) add(r.requestId, r.numComputedTokens, r.numScheduledTokens);
    for (const r of s.scheduledCachedRequests) add(r.requestId, r.numComputedTokens, r.numScheduledTokens);
    return map;
  }

  private delta(
    c: Choice,
    newTokenIds: number[],
    o:
      | { logprob?: number; topLogprobs?: { tokenId: number; logprob: number }[]; logits?: Float32Array[] }
      | undefined,
    finish: FinishReason | null,
    stopTokenId: number | null,
    numOutputTokens: number,
  ): CompletionDelta {
    let text = c.detok ? c.detok.push(newTokenIds) : '';
    if (finish && c.detok) text += c.detok.flush();
    let stopReason: string | number | null = finish === 'stop' ? stopTokenId : null;
    if (c.stops) {
      const r = c.stops.push(text);
      text = r.text;
      if (r.matched !== null && finish === null) {
        finish = 'stop';
        stopReason = r.matched;
        this.parts.scheduler.abort([c.childId]);
      } else if (finish !== null && r.matched === null) text += c.stops.flush();
    }
    const wantLogprobs = c.params.logprobs !== undefined && c.params.logprobs !== null;
    const logprobs =
      wantLogprobs && newTokenIds.length > 0 && o?.logprob !== undefined
        ? [{ tokenId: newTokenIds[0]!, logprob: o.logprob, top: o.topLogprobs ?? [] }]
        : null;
    if (finish) this.forget(c.childId);
    return {
      requestId: c.parentId,
      index: c.index,
      newTokenIds,
      newText: text,
      logprobs,
      promptLogits: o?.logits ?? null,
      finished: finish !== null,
      finishReason: finish,
      stopReason,
      numPromptTokens: c.numPromptTokens,
      numOutputTokens,
    };
  }

  private finishChoice(id: string, reason: FinishReason, error: string | null): void {
    const c = this.choices.get(id);
    if (!c) return;
    const req = this.parts.scheduler.getRequest(id);
    this.pendingDeltas.push({
      requestId: c.parentId,
      index: c.index,
      newTokenIds: [],
      newText: '',
      logprobs: null,
      promptLogits: null,
      finished: true,
      finishReason: reason,
      stopReason: null,
      numPromptTokens: c.numPromptTokens,
      numOutputTokens: req?.outputTokenIds.length ?? 0,
      ...(error !== null ? { error } : {}),
    });
    this.forget(id);
  }

  private forget(childId: string): void {
    const c = this.choices.get(childId);
    if (!c) return;
    this.choices.delete(childId);
    const siblings = this.byParent.get(c.parentId)?.filter((x) => x !== childId) ?? [];
    if (siblings.length === 0) this.byParent.delete(c.parentId);
    else this.byParent.set(c.parentId, siblings);
  }

  private failAll(message: string): CompletionDelta[] {
    const ids = [...this.choices.keys()];
    this.parts.scheduler.abort(ids, 'error');
    for (const id of ids) this.finishChoice(id, 'error', message);
    return this.takePending();
  }

  private takePending(): CompletionDelta[] {
    const d = this.pendingDeltas;
    this.pendingDeltas = [];
    return d;
  }
}
