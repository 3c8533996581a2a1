import type { SchedulerOutput } from '@dcp/scheduler';
import type { StepInput, StepOutput } from '../executor/protocol.js';
import type { RankRunner } from '../executor/rank-loop.js';
import { sampleToken } from '../sampling/sampler.js';

/**
 * A stand-in for a model rank in engine tests: it tracks every request's tokens from the plain
 * `SchedulerOutput` alone (as a real rank must) and produces logits that peak at a deterministic
 * function of the request's token history, so outputs can be predicted independently.
 */
export class FakeRunner implements RankRunner {
  private readonly tokens = new Map<string, number[]>();
  steps = 0;

  constructor(
    readonly vocab: number,
    readonly next: (history: readonly number[]) => number,
  ) {}

  info(): Record<string, unknown> {
    return { backend: 'fake' };
  }

  async execute(input: StepInput): Promise<StepOutput> {
    this.steps++;
    const s = input.schedule as SchedulerOutput;
    for (const id of [...s.finishedRequestIds, ...s.preemptedRequestIds]) this.tokens.delete(id);
    const outputs: StepOutput['outputs'] = {};
    const run = (id: string, computed: number, ids: number[]) => {
      const t = this.tokens.get(id)!;
      t.length = computed;
      t.push(...ids);
      const samp = input.sampling[id];
      if (!samp) return;
      const rows: Float32Array[] = [];
      if (samp.returnLogits)
        for (let i = computed; i < t.length; i++) rows.push(this.logits(t.slice(0, i + 1)));
      if (samp.sample) {
        const r = sampleToken(this.logits(t), samp.params, samp.seed, samp.outputIndex);
        outputs[id] = { tokenId: r.tokenId, logprob: r.logprob, topLogprobs: r.topLogprobs };
      } else outputs[id] = {};
      if (rows.length > 0) outputs[id]!.logits = rows;
    };
    for (const r of s.scheduledNewRequests) {
      this.tokens.set(r.requestId, [...r.promptTokenIds, ...r.outputTokenIds]);
      run(r.requestId, r.numComputedTokens, r.tokenIds);
    }
    for (const r of s.scheduledCachedRequests) run(r.requestId, r.numComputedTokens, r.tokenIds);
    return { outputs };
  }

  /** Logits with a clear peak at `next(history)` and a smooth tail. */
  logits(history: readonly number[]): Float32Array {
    const l = new Float32Array(this.vocab);
    const peak = this.next(history);
    for (let v = 0; v < this.vocab; v++) l[v] = -Math.abs(v - peak) * 0.5;
    l[peak] = 4;
    return l;
  }
}
