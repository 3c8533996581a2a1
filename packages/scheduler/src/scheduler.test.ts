import { describe, expect, it } from 'vitest';
import { SchedulerConfigError } from './errors.js';
import { ids } from './test-helpers.js';
import { grants, setup } from './test-setup.js';

const long = { maxTokens: 100, ignoreEos: true };

describe('token budget', () => {
  it('splits the budget between running decodes and a chunked prefill', () => {
    const { s, step } = setup({ maxNumBatchedTokens: 16 });
    for (const [k, id] of ['A', 'B', 'C'].entries()) {
      s.addRequest({ requestId: id, promptTokenIds: ids(3, 100 * k + 1), sampling: long });
    }
    const first = step();
    expect(grants(first.out)).toEqual({ A: 3, B: 3, C: 3 });
    expect(first.out.totalNumScheduledTokens).toBe(9);
    expect(first.res.map((r) => r.newTokenIds.length)).toEqual([1, 1, 1]);

    s.addRequest({ requestId: 'D', promptTokenIds: ids(40, 500), sampling: long });
    // 3 decodes take 1 each; the 40-token prompt gets the other 13 per step: 13 + 13 + 13 + 1.
    const seen: Array<[Record<string, number>, number]> = [];
    const dOut: number[] = [];
    for (let k = 0; k < 4; k++) {
      const { out, res } = step();
      const d = [...out.scheduledCachedRequests, ...out.scheduledNewRequests].find(
        (r) => r.requestId === 'D',
      )!;
      seen.push([grants(out), d.numComputedTokens]);
      dOut.push(res.find((r) => r.requestId === 'D')!.newTokenIds.length);
      expect(out.totalNumScheduledTokens).toBeLessThanOrEqual(16);
    }
    expect(seen).toEqual([
      [{ A: 1, B: 1, C: 1, D: 13 }, 0],
      [{ A: 1, B: 1, C: 1, D: 13 }, 13],
      [{ A: 1, B: 1, C: 1, D: 13 }, 26],
      [{ A: 1, B: 1, C: 1, D: 1 }, 39],
    ]);
    expect(dOut).toEqual([0, 0, 0, 1]);
  });

  it('never starves decodes even when a prefill is ahead of them in the batch', () => {
    const { s, step } = setup({ maxNumBatchedTokens: 16 });
    for (const [k, id] of ['A', 'B', 'C'].entries()) {
      s.addRequest({
        requestId: id,
        promptTokenIds: ids(3, 100 * k + 1),
        sampling: long,
        arrivalTime: 10 + k,
      });
    }
    step();
    // D arrived first, so it runs ahead of A, B, C once admitted.
    s.addRequest({ requestId: 'D', promptTokenIds: ids(60, 500), sampling: long, arrivalTime: 1 });
    expect(grants(step().out)).toEqual({ A: 1, B: 1, C: 1, D: 13 });
    const { out } = step();
    expect(out.scheduledCachedRequests.map((c) => c.requestId)).toEqual(['D', 'A', 'B', 'C']);
    expect(grants(out)).toEqual({ D: 13, A: 1, B: 1, C: 1 });
  });

  it('caps prefill chunks at longPrefillTokenThreshold', () => {
    const { s, step } = setup({ maxNumBatchedTokens: 16, longPrefillTokenThreshold: 5 });
    s.addRequest({ requestId: 'A', promptTokenIds: ids(12), sampling: long });
    s.addRequest({ requestId: 'B', promptTokenIds: ids(4, 50), sampling: long });
    expect(grants(step().out)).toEqual({ A: 5, B: 4 });
    expect(grants(step().out)).toEqual({ A: 5, B: 1 });
    expect(grants(step().out)).toEqual({ A: 2, B: 1 });
  });

  it('spreads a prompt longer than the budget over several steps and samples only at the end', () => {
    const { s, worker } = setup({ maxNumBatchedTokens: 16 });
    s.addRequest({ requestId: 'P', promptTokenIds: ids(50), sampling: long });
    const computed: number[] = [];
    const counts: number[] = [];
    const newTokens: number[][] = [];
    for (let k = 0; k < 4; k++) {
      const out = s.schedule();
      const all = [...out.scheduledCachedRequests, ...out.scheduledNewRequests];
      expect(all).toHaveLength(1);
      computed.push(all[0]!.numComputedTokens);
      counts.push(all[0]!.numScheduledTokens);
      const sampled = worker.execute(out);
      // An engine that samples every row anyway: the scheduler drops tokens of unfinished prompts.
      const res = s.updateFromOutput(out, { P: sampled.P ?? [7] });
      newTokens.push(res[0]!.newTokenIds);
    }
    expect(computed).toEqual([0, 16, 32, 48]);
    expect(counts).toEqual([16, 16, 16, 2]);
    expect(newTokens.slice(0, 3)).toEqual([[], [], []]);
    expect(newTokens[3]).toHaveLength(1);
    expect(s.getRequest('P')!.outputTokenIds).toEqual(newTokens[3]);
  });

  it('without chunked prefill runs each prompt whole, waiting for a step with room', () => {
    expect(() => setup({ enableChunkedPrefill: false, maxNumBatchedTokens: 16, maxModelLen: 64 })).toThrow(
      /enableChunkedPrefill.*maxNumBatchedTokens \(16\).*maxModelLen \(64\)/,
    );
    const { s, step } = setup({ enableChunkedPrefill: false, maxNumBatchedTokens: 64, maxModelLen: 64 });
    s.addRequest({ requestId: 'A', promptTokenIds: ids(40), sampling: { maxTokens: 5 } });
    s.addRequest({ requestId: 'B', promptTokenIds: ids(40, 100), sampling: { maxTokens: 5 } });
    expect(grants(step().out)).toEqual({ A: 40 });
    expect(s.getStats().numWaiting).toBe(1);
    expect(grants(step().out)).toEqual({ A: 1, B: 40 });
  });

  it('admits at most maxNumSeqs running requests', () => {
    const { s, step } = setup({ maxNumSeqs: 2 });
    s.addRequest({ requestId: 'A', promptTokenIds: ids(3), sampling: { maxTokens: 1 } });
    s.addRequest({ requestId: 'B', promptTokenIds: ids(3, 10), sampling: long });
    s.addRequest({ requestId: 'C', promptTokenIds: ids(3, 20), sampling: long });
    const first = step();
    expect(grants(first.out)).toEqual({ A: 3, B: 3 });
    expect(first.res.find((r) => r.requestId === 'A')!.finishReason).toBe('length');
    expect(s.getStats()).toMatchObject({ numRunning: 1, numWaiting: 1 });
    const second = step();
    expect(second.out.finishedRequestIds).toEqual(['A']);
    expect(grants(second.out)).toEqual({ B: 1, C: 3 });
    expect(s.getStats()).toMatchObject({ numRunning: 2, numWaiting: 0 });
  });
});

describe('options', () => {
  it('rejects bad options, naming them', () => {
    expect(() => setup({ maxNumBatchedTokens: 4, maxNumSeqs: 8 })).toThrow(SchedulerConfigError);
    expect(() => setup({ maxNumBatchedTokens: 4, maxNumSeqs: 8 })).toThrow(
      /maxNumBatchedTokens \(4\).*maxNumSeqs/,
    );
    expect(() => setup({ numBlocks: 5, blockSize: 4, maxModelLen: 17 })).toThrow(
      /maxModelLen \(17\).*capacity \(16\)/,
    );
    expect(() => setup({ maxNumSeqs: 0 })).toThrow(/maxNumSeqs must be an integer ≥ 1/);
    expect(() => setup({ policy: 'lifo' as 'fcfs' })).toThrow(/policy/);
    expect(() => setup({ longPrefillTokenThreshold: -1 })).toThrow(/longPrefillTokenThreshold/);
    expect(() =>
      setup({ longPrefillTokenThreshold: 8, enableChunkedPrefill: false, maxNumBatchedTokens: 128 }),
    ).toThrow(/longPrefillTokenThreshold .* needs enableChunkedPrefill/);
    expect(() => setup({ eosTokenId: 1.5 })).toThrow(/eosTokenId/);
  });
});
