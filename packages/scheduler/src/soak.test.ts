import { describe, expect, it } from 'vitest';
import type { SchedulingPolicy } from './queue.js';
import { prng, type RefSampling, randInt, referenceGenerate } from './test-helpers.js';
import { setup } from './test-setup.js';
import type { Request } from './types.js';

const VOCAB = 64;
const EOS = 0;
const MAX_MODEL_LEN = 96;

interface Spec {
  id: string;
  prompt: number[];
  sampling: RefSampling;
  priority: number;
  addAtStep: number;
}

/** A seeded workload: prompts sharing a few system prefixes, assorted stop rules, staggered arrivals. */
function workload(seed: number, count: number): Spec[] {
  const rand = prng(seed);
  const prefixes = [0, 8, 13, 24].map((len) =>
    Array.from({ length: len }, () => randInt(rand, 1, VOCAB - 1)),
  );
  const specs: Spec[] = [];
  let stepAt = 0;
  for (let k = 0; k < count; k++) {
    if (rand() < 0.5) stepAt++;
    const prefix = prefixes[randInt(rand, 0, prefixes.length - 1)]!;
    const tail = Array.from({ length: randInt(rand, 1, 40) }, () => randInt(rand, 0, VOCAB - 1));
    const prompt = [...prefix, ...tail];
    const maxTokens = randInt(rand, 1, Math.min(20, MAX_MODEL_LEN - prompt.length));
    const sampling: RefSampling = {
      maxTokens,
      minTokens: rand() < 0.3 ? randInt(rand, 0, maxTokens) : 0,
      stopTokenIds: rand() < 0.3 ? [randInt(rand, 1, VOCAB - 1)] : [],
      ignoreEos: rand() < 0.2,
      eosTokenId: EOS,
    };
    specs.push({ id: `q${k}`, prompt, sampling, priority: randInt(rand, 0, 3), addAtStep: stepAt });
  }
  return specs;
}

interface RunResult {
  streams: Map<string, number[]>;
  reasons: Map<string, string>;
  aborted: Set<string>;
  preemptions: number;
  prefixHits: number;
}

/** Drives a scheduler over `specs` with a fake model; aborts at random when `abortSeed` is set. */
function run(
  specs: Spec[],
  o: { numBlocks: number; blockSize: number; dcp: number; policy: SchedulingPolicy },
  abortSeed: number | null,
): RunResult {
  let step = 0;
  const t = setup(
    { ...o, maxModelLen: MAX_MODEL_LEN, maxNumBatchedTokens: 48, maxNumSeqs: 16, clock: () => step },
    VOCAB,
  );
  const rand = prng(abortSeed ?? 1);
  const streams = new Map<string, number[]>();
  const reasons = new Map<string, string>();
  const aborted = new Set<string>();
  const tracked = new Map<string, Request>();
  const finishOnce = (id: string, reason: string) => {
    expect(reasons.has(id), `${id} finished twice`).toBe(false);
    reasons.set(id, reason);
  };
  const abortSome = () => {
    if (abortSeed === null || rand() > 0.01 || tracked.size === 0) return;
    const live = [...tracked.keys()].filter((id) => !reasons.has(id));
    const id = live[randInt(rand, 0, live.length - 1)];
    if (id === undefined) return;
    for (const a of t.s.abort([id])) {
      aborted.add(a);
      finishOnce(a, 'abort');
    }
  };
  const decoding = new Set<string>();
  const broken: string[] = [];
  let next = 0;
  while (next < specs.length || t.s.hasPendingWork()) {
    step++;
    if (step > 200_000) throw new Error('the workload must drain');
    while (next < specs.length && specs[next]!.addAtStep <= step) {
      const sp = specs[next++]!;
      const r = t.s.addRequest({
        requestId: sp.id,
        promptTokenIds: sp.prompt,
        sampling: sp.sampling,
        priority: sp.priority,
      });
      tracked.set(sp.id, r);
      streams.set(sp.id, []);
    }
    abortSome();
    const out = t.s.schedule();
    if (out.totalNumScheduledTokens > 48) broken.push(`step ${step}: over budget`);
    if (t.s.getStats().numRunning > 16) broken.push(`step ${step}: over maxNumSeqs`);
    // Decodes are never starved: each request that got a token last step and is still live runs
    // again now (one token), unless this step preempted it.
    const granted = new Map(out.scheduledCachedRequests.map((c) => [c.requestId, c.numScheduledTokens]));
    for (const id of decoding) {
      if (reasons.has(id) || out.preemptedRequestIds.includes(id) || granted.get(id) === 1) continue;
      broken.push(`step ${step}: ${id} did not decode`);
    }
    decoding.clear();
    const sampled = t.worker.execute(out);
    abortSome(); // aborts land mid-step too
    for (const r of t.s.updateFromOutput(out, sampled)) {
      streams.get(r.requestId)!.push(...r.newTokenIds);
      if (r.finishReason !== null) finishOnce(r.requestId, r.finishReason);
      else if (r.newTokenIds.length > 0) decoding.add(r.requestId);
    }
  }
  expect(broken.slice(0, 5)).toEqual([]);
  for (const [id, r] of tracked) {
    expect(r.status, id).toBe('finished');
    expect(r.outputTokenIds, `${id}: streamed tokens equal the request's own record`).toEqual(
      streams.get(id),
    );
  }
  expect(t.kv.numFreeBlocks, 'every block is free at the end (cached ones count as free)').toBe(
    o.numBlocks - 1,
  );
  const st = t.s.getStats();
  expect(st).toMatchObject({ numRunning: 0, numWaiting: 0 });
  return { streams, reasons, aborted, preemptions: st.numPreemptionsTotal, prefixHits: st.prefixCacheHits };
}

describe.each([
  { policy: 'fcfs' as const, dcp: 1, blockSize: 4, numBlocks: 33, seed: 11 },
  { policy: 'priority' as const, dcp: 2, blockSize: 4, numBlocks: 17, seed: 12 },
])('seeded soak ($policy, dcp $dcp)', ({ policy, dcp, blockSize, numBlocks, seed }) => {
  it('finishes every request with the unpressured outputs despite preemption and aborts', () => {
    const specs = workload(seed, 2000);
    const tight = run(specs, { numBlocks, blockSize, dcp, policy }, seed + 100);
    const roomy = run(specs, { numBlocks: 4000, blockSize, dcp, policy }, null);
    expect(tight.preemptions, 'the tiny cache forces preemption').toBeGreaterThan(300);
    expect(roomy.preemptions).toBe(0);
    expect(tight.aborted.size).toBeGreaterThan(50);
    expect(tight.prefixHits).toBeGreaterThan(0);
    expect(tight.reasons.size).toBe(specs.length);
    for (const sp of specs) {
      const ref = referenceGenerate(sp.prompt, sp.sampling, VOCAB, MAX_MODEL_LEN);
      expect(roomy.streams.get(sp.id), sp.id).toEqual(ref.tokens);
      expect(roomy.reasons.get(sp.id), sp.id).toBe(ref.reason);
      const got = tight.streams.get(sp.id)!;
      if (tight.aborted.has(sp.id)) {
        expect(got, sp.id).toEqual(ref.tokens.slice(0, got.length));
      } else {
        expect(got, sp.id).toEqual(roomy.streams.get(sp.id));
        expect(tight.reasons.get(sp.id), sp.id).toBe(ref.reason);
      }
    }
  }, 120_000);
});
