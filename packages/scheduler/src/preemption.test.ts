import { describe, expect, it } from 'vitest';
import type { SchedulingPolicy } from './queue.js';
import { ids, referenceGenerate } from './test-helpers.js';
import { grants, setup } from './test-setup.js';
import type { RequestOutput } from './types.js';

const VOCAB = 1000;

/**
 * Four usable blocks of 4 tokens; A and B have 6-token prompts, so each holds 2 blocks. Their
 * token at position 8 (4th decode step) needs a 3rd block that does not exist: one is preempted.
 */
function twoGrowingRequests(policy: SchedulingPolicy) {
  const t = setup({ numBlocks: 5, blockSize: 4, maxModelLen: 16, maxNumBatchedTokens: 16, policy }, VOCAB);
  const sa = { maxTokens: 5, ignoreEos: true };
  const sb = { maxTokens: 4, ignoreEos: true };
  t.s.addRequest({ requestId: 'A', promptTokenIds: ids(6, 10), sampling: sa, arrivalTime: 0, priority: 1 });
  t.s.addRequest({ requestId: 'B', promptTokenIds: ids(6, 40), sampling: sb, arrivalTime: 1, priority: 0 });
  const streamed: Record<string, number[]> = { A: [], B: [] };
  const collect = (res: RequestOutput[]) => {
    for (const r of res) streamed[r.requestId]!.push(...r.newTokenIds);
  };
  return { ...t, streamed, collect };
}

describe('preemption by recompute', () => {
  it('FCFS preempts the latest arrival, which keeps its outputs and resumes', () => {
    const { s, kv, step, streamed, collect } = twoGrowingRequests('fcfs');
    for (let k = 0; k < 3; k++) {
      const { out, res } = step();
      expect(out.preemptedRequestIds).toEqual([]);
      collect(res);
    }
    expect(streamed.B).toHaveLength(3);
    const fourth = step();
    collect(fourth.res);
    expect(fourth.out.preemptedRequestIds).toEqual(['B']);
    expect(grants(fourth.out)).toEqual({ A: 1 });
    const b = s.getRequest('B')!;
    expect(b).toMatchObject({ status: 'preempted', numComputedTokens: 0, numPreemptions: 1 });
    expect(b.outputTokenIds).toEqual(streamed.B);
    expect(s.getStats()).toMatchObject({ numRunning: 1, numWaiting: 1, numPreemptionsTotal: 1 });

    // B cannot come back while A holds 3 of the 4 blocks; A finishes at its 5th token.
    const fifth = step();
    collect(fifth.res);
    expect(grants(fifth.out)).toEqual({ A: 1 });
    expect(fifth.res[0]!.finishReason).toBe('length');

    const sixth = step();
    collect(sixth.res);
    expect(sixth.out.finishedRequestIds).toEqual(['A']);
    const resumed = sixth.out.scheduledNewRequests[0]!;
    expect(resumed.requestId).toBe('B');
    expect(resumed.outputTokenIds).toEqual(streamed.B!.slice(0, 3));
    // Prompt + 3 outputs = 9 tokens to recompute, minus whatever whole blocks the prefix cache kept.
    expect(resumed.numComputedTokens % 4).toBe(0);
    expect(resumed.numComputedTokens + resumed.numScheduledTokens).toBe(9);
    expect(resumed.tokenIds).toEqual(
      [...ids(6, 40), ...streamed.B!.slice(0, 3)].slice(resumed.numComputedTokens),
    );

    while (s.hasPendingWork()) collect(step().res);
    const ref = (p: number[], maxTokens: number) => referenceGenerate(p, { maxTokens }, VOCAB, 16).tokens;
    expect(streamed.A).toEqual(ref(ids(6, 10), 5));
    expect(streamed.B).toEqual(ref(ids(6, 40), 4));
    expect(kv.numFreeBlocks).toBe(4);
  });

  it('the priority policy preempts the lowest priority instead', () => {
    const { s, step, streamed, collect } = twoGrowingRequests('priority');
    for (let k = 0; k < 3; k++) collect(step().res);
    const fourth = step();
    collect(fourth.res);
    expect(fourth.out.preemptedRequestIds).toEqual(['A']);
    expect(grants(fourth.out)).toEqual({ B: 1 });
    while (s.hasPendingWork()) collect(step().res);
    expect(streamed.A).toEqual(referenceGenerate(ids(6, 10), { maxTokens: 5 }, VOCAB, 16).tokens);
    expect(streamed.B).toEqual(referenceGenerate(ids(6, 40), { maxTokens: 4 }, VOCAB, 16).tokens);
  });

  it('the last request in service order preempts itself when it cannot grow', () => {
    // A (6 tokens) and B (8 tokens) fill the 4 blocks; B's 9th token needs a 5th block.
    const { s, kv, step } = setup({ numBlocks: 5, blockSize: 4, maxModelLen: 16, maxNumBatchedTokens: 16 });
    s.addRequest({ requestId: 'A', promptTokenIds: ids(6), sampling: { maxTokens: 3, ignoreEos: true } });
    s.addRequest({ requestId: 'B', promptTokenIds: ids(8, 50), sampling: { maxTokens: 3, ignoreEos: true } });
    expect(grants(step().out)).toEqual({ A: 6, B: 8 });
    const second = step();
    expect(second.out.preemptedRequestIds).toEqual(['B']);
    expect(grants(second.out)).toEqual({ A: 1 });
    expect(s.getRequest('B')!.outputTokenIds).toHaveLength(1);
    let steps = 0;
    while (s.hasPendingWork() && steps++ < 20) step();
    expect(s.hasPendingWork()).toBe(false);
    expect(kv.numFreeBlocks).toBe(4);
  });
});

describe('scheduling order', () => {
  it('serves waiting requests by priority, then arrival', () => {
    const { s, step } = setup({ maxNumSeqs: 1, policy: 'priority' });
    s.addRequest({ requestId: 'low', promptTokenIds: ids(2), priority: 2, sampling: { maxTokens: 1 } });
    s.addRequest({ requestId: 'high', promptTokenIds: ids(2), priority: 0, sampling: { maxTokens: 1 } });
    s.addRequest({ requestId: 'mid', promptTokenIds: ids(2), priority: 1, sampling: { maxTokens: 1 } });
    s.addRequest({ requestId: 'high2', promptTokenIds: ids(2), priority: 0, sampling: { maxTokens: 1 } });
    const order: string[] = [];
    while (s.hasPendingWork()) order.push(...Object.keys(grants(step().out)));
    expect(order).toEqual(['high', 'high2', 'mid', 'low']);
  });

  it('FCFS serves by arrival time, not by the order of addRequest calls', () => {
    const { s, step } = setup({ maxNumSeqs: 1 });
    s.addRequest({ requestId: 'late', promptTokenIds: ids(2), arrivalTime: 5, sampling: { maxTokens: 1 } });
    s.addRequest({
      requestId: 'early',
      promptTokenIds: ids(2),
      arrivalTime: 1,
      priority: 9,
      sampling: { maxTokens: 1 },
    });
    const order: string[] = [];
    while (s.hasPendingWork()) order.push(...Object.keys(grants(step().out)));
    expect(order).toEqual(['early', 'late']);
  });
});
