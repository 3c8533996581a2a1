import { describe, expect, it } from 'vitest';
import { InvalidRequestError, SchedulerStateError } from './errors.js';
import { ids, referenceGenerate } from './test-helpers.js';
import { grants, setup } from './test-setup.js';

const VOCAB = 1000;

describe('abort', () => {
  it('aborts a request mid-prefill, freeing its blocks at once', () => {
    const { s, kv, step } = setup({ maxNumBatchedTokens: 16 });
    s.addRequest({ requestId: 'P', promptTokenIds: ids(50) });
    const out = s.schedule();
    expect(grants(out)).toEqual({ P: 16 });
    expect(kv.numFreeBlocks).toBe(64 - 4);
    expect(s.abort(['P', 'nope'])).toEqual(['P']);
    expect(kv.numFreeBlocks).toBe(64);
    expect(s.getRequest('P')).toBeUndefined();
    // The step that was in flight is applied without it.
    expect(s.updateFromOutput(out, {})).toEqual([]);
    const next = step().out;
    expect(next.finishedRequestIds).toEqual(['P']);
    expect(next.totalNumScheduledTokens).toBe(0);
    expect(s.hasPendingWork()).toBe(false);
  });

  it('aborts waiting and decoding requests; sampled tokens of an aborted request are dropped', () => {
    const { s, kv, worker, step } = setup({ maxNumSeqs: 1 });
    s.addRequest({ requestId: 'run', promptTokenIds: ids(5), sampling: { maxTokens: 50 } });
    s.addRequest({ requestId: 'wait', promptTokenIds: ids(5, 20) });
    step();
    expect(s.getStats()).toMatchObject({ numRunning: 1, numWaiting: 1 });
    const out = s.schedule();
    const sampled = worker.execute(out);
    expect(s.abort(['wait'], 'error')).toEqual(['wait']);
    expect(s.abort(['run'])).toEqual(['run']);
    expect(s.updateFromOutput(out, sampled)).toEqual([]);
    expect(s.getStats()).toMatchObject({ numRunning: 0, numWaiting: 0 });
    expect(kv.numFreeBlocks).toBe(64);
    expect(step().out.finishedRequestIds.sort()).toEqual(['run', 'wait']);
    expect(s.abort(['run'])).toEqual([]);
  });
});

describe('stop conditions through the scheduler', () => {
  it('stops on EOS after minTokens, on stop token ids, and on maxTokens / maxModelLen', () => {
    const { s } = setup({ eosTokenId: 2, maxModelLen: 20, maxNumBatchedTokens: 32 });
    s.addRequest({ requestId: 'eos', promptTokenIds: ids(3), sampling: { minTokens: 1, maxTokens: 10 } });
    s.addRequest({
      requestId: 'stop',
      promptTokenIds: ids(3),
      sampling: { stopTokenIds: [5], maxTokens: 10 },
    });
    s.addRequest({ requestId: 'ign', promptTokenIds: ids(3), sampling: { ignoreEos: true, maxTokens: 3 } });
    s.addRequest({ requestId: 'len', promptTokenIds: ids(18), sampling: { ignoreEos: true, maxTokens: 10 } });
    const feed: Record<string, number[]>[] = [
      { eos: [2], stop: [9], ign: [2], len: [2] },
      { eos: [2], stop: [5], ign: [2], len: [2] },
      { ign: [2] },
    ];
    const reasons: Record<string, [string | null, number | null]> = {};
    const reported: string[] = [];
    for (const sampled of feed) {
      const out = s.schedule();
      reported.push(...out.finishedRequestIds);
      for (const r of s.updateFromOutput(out, sampled)) {
        if (r.finishReason) reasons[r.requestId] = [r.finishReason, r.stopTokenId];
      }
    }
    expect(reasons).toEqual({
      eos: ['stop', null],
      stop: ['stop', 5],
      ign: ['length', null],
      len: ['length', null],
    });
    expect(s.hasPendingWork()).toBe(true); // finished ids still to report
    reported.push(...s.schedule().finishedRequestIds);
    expect(reported.sort()).toEqual(['eos', 'ign', 'len', 'stop']);
    expect(s.hasPendingWork()).toBe(false);
  });

  it('applies several sampled tokens in one step and drops those after a stop', () => {
    const { s } = setup();
    s.addRequest({ requestId: 'A', promptTokenIds: ids(3), sampling: { stopTokenIds: [7], maxTokens: 10 } });
    const out = s.schedule();
    const [r] = s.updateFromOutput(out, { A: [4, 7, 8, 9] });
    expect(r).toMatchObject({
      newTokenIds: [4, 7],
      finishReason: 'stop',
      stopTokenId: 7,
      numOutputTokens: 2,
    });
  });
});

describe('prefix caching', () => {
  it('starts numComputedTokens at the hit and computes only the rest', () => {
    const { s, step } = setup({ maxNumBatchedTokens: 64 }, VOCAB);
    const a = ids(21, 300);
    s.addRequest({ requestId: 'A', promptTokenIds: a, sampling: { maxTokens: 1 } });
    step();
    const cases: Array<[string, number[], string | null, number]> = [
      ['B', [...a.slice(0, 16), ...ids(5, 900)], null, 16], // 4 whole blocks shared
      ['C', [...a], null, 20], // identical: the last token is always recomputed
      ['D', [...a], 'tenant-2', 0], // another salt sees nothing
      ['E', [...a.slice(0, 6), ...ids(15, 800)], null, 4],
    ];
    const got: Record<string, [number, number]> = {};
    const tokens: Record<string, number[]> = {};
    for (const [id, prompt, salt] of cases) {
      s.addRequest({ requestId: id, promptTokenIds: prompt, cacheSalt: salt, sampling: { maxTokens: 3 } });
      tokens[id] = [];
    }
    while (s.hasPendingWork()) {
      const { out, res } = step();
      for (const n of out.scheduledNewRequests)
        got[n.requestId] = [n.numComputedTokens, n.numScheduledTokens];
      for (const r of res) tokens[r.requestId]?.push(...r.newTokenIds);
    }
    for (const [id, prompt, , hit] of cases) {
      expect(got[id], id).toEqual([hit, prompt.length - hit]);
      // The fake model read the hit's KV out of the shared blocks: outputs still match.
      expect(tokens[id], id).toEqual(referenceGenerate(prompt, { maxTokens: 3 }, VOCAB, 128).tokens);
      expect(s.getRequest(id)).toBeUndefined();
    }
    const st = s.getStats();
    expect(st.prefixCacheQueries).toBe(21 * 5);
    expect(st.prefixCacheHits).toBe(16 + 20 + 4);
    expect(st.prefixCacheHitRate).toBeCloseTo(40 / 105, 12);
  });
});

describe('requests and outputs as data', () => {
  it('rejects a prompt longer than maxModelLen and other bad fields, naming them', () => {
    const { s } = setup({ maxModelLen: 32 });
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: ids(33) })).toThrow(InvalidRequestError);
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: ids(33) })).toThrow(
      /"x": promptTokenIds has 33 tokens, more than maxModelLen \(32\)/,
    );
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: [] })).toThrow(
      /promptTokenIds must be a non-empty/,
    );
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: [1, -2] })).toThrow(/promptTokenIds\[1\]/);
    expect(() => s.addRequest({ requestId: '', promptTokenIds: [1] })).toThrow(/requestId/);
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: [1], sampling: { topP: 0 } })).toThrow(
      /sampling\.topP/,
    );
    expect(() =>
      s.addRequest({ requestId: 'x', promptTokenIds: [1], sampling: { minTokens: 5, maxTokens: 2 } }),
    ).toThrow(/sampling\.minTokens \(5\) must not exceed maxTokens \(2\)/);
    const r = s.addRequest({ requestId: 'x', promptTokenIds: ids(30) });
    expect(r.sampling.maxTokens).toBe(2);
    expect(() => s.addRequest({ requestId: 'x', promptTokenIds: [1] })).toThrow(/already in use/);
    expect(s.getStats().numWaiting).toBe(1);
  });

  it('scheduler outputs survive a JSON round trip', () => {
    const { s, worker } = setup({ maxNumBatchedTokens: 16, numBlocks: 9, maxModelLen: 32 });
    for (let k = 0; k < 5; k++) {
      s.addRequest({
        requestId: `r${k}`,
        promptTokenIds: ids(3 + 4 * k, 10 * k),
        sampling: { maxTokens: 6 },
      });
    }
    let preemptions = 0;
    while (s.hasPendingWork()) {
      const out = s.schedule();
      expect(JSON.parse(JSON.stringify(out))).toEqual(out);
      preemptions += out.preemptedRequestIds.length;
      const res = s.updateFromOutput(out, worker.execute(out));
      expect(JSON.parse(JSON.stringify(res))).toEqual(res);
    }
    expect(preemptions).toBeGreaterThan(0);
  });

  it('refuses a step applied twice, tokens for unscheduled requests, and missing samples', () => {
    const { s, worker } = setup();
    s.addRequest({ requestId: 'A', promptTokenIds: ids(3) });
    const out = s.schedule();
    const sampled = worker.execute(out);
    expect(() => s.updateFromOutput(out, { ...sampled, Z: [1] })).toThrow(/"Z", which step did not schedule/);
    expect(() => s.updateFromOutput(out, {})).toThrow(/sampled\["A"\] is missing/);
    expect(() => s.updateFromOutput(out, { A: [1.5] })).toThrow(SchedulerStateError);
    s.updateFromOutput(out, sampled);
    expect(() => s.updateFromOutput(out, sampled)).toThrow(/step 1 was not scheduled or was already applied/);
  });
});
