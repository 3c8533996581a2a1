import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.js';
import { compareEntries, type Entry, insertSorted, WaitingQueue } from './queue.js';
import { createRequest } from './request.js';
import { appendToken } from './stop.js';
import { prng, randInt } from './test-helpers.js';
import type { Request } from './types.js';

const limits = { maxModelLen: 100, eosTokenId: 2 };

describe('createRequest', () => {
  it('fills defaults and carries sampling fields through as plain data', () => {
    const r = createRequest(
      {
        requestId: 'a',
        promptTokenIds: [5, 6, 7],
        sampling: { temperature: 0.7, topK: 40, seed: 3, logprobs: 5 },
      },
      12.5,
      limits,
    );
    expect(r).toMatchObject({
      requestId: 'a',
      allTokenIds: [5, 6, 7],
      numPromptTokens: 3,
      numComputedTokens: 0,
      numCachedTokens: -1,
      status: 'waiting',
      finishReason: null,
      arrivalTime: 12.5,
      priority: 0,
      cacheSalt: null,
    });
    expect(r.sampling).toEqual({
      maxTokens: 97,
      minTokens: 0,
      stopTokenIds: [],
      ignoreEos: false,
      eosTokenId: 2,
      temperature: 0.7,
      topP: 1,
      topK: 40,
      minP: 0,
      seed: 3,
      n: 1,
      logprobs: 5,
    });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('copies its inputs, so later changes by the caller do not leak in', () => {
    const prompt = [1, 2];
    const stop = [9];
    const r = createRequest(
      { requestId: 'a', promptTokenIds: prompt, sampling: { stopTokenIds: stop } },
      0,
      limits,
    );
    prompt.push(3);
    stop.push(4);
    expect(r.allTokenIds).toEqual([1, 2]);
    expect(r.sampling.stopTokenIds).toEqual([9]);
  });

  it.each([
    [{ temperature: -1 }, /sampling\.temperature/],
    [{ topP: 1.5 }, /sampling\.topP/],
    [{ topK: 2.5 }, /sampling\.topK/],
    [{ minP: 2 }, /sampling\.minP/],
    [{ n: 0 }, /sampling\.n must be an integer ≥ 1/],
    [{ maxTokens: 0 }, /sampling\.maxTokens/],
    [{ stopTokenIds: [1, -1] }, /sampling\.stopTokenIds\[1\]/],
    [{ eosTokenId: -3 }, /sampling\.eosTokenId/],
    [{ ignoreEos: 'yes' as unknown as boolean }, /sampling\.ignoreEos/],
  ])('rejects sampling %j', (sampling, msg) => {
    expect(() => createRequest({ requestId: 'a', promptTokenIds: [1], sampling }, 0, limits)).toThrow(msg);
  });

  it('rejects bad request fields with InvalidRequestError', () => {
    const bad = [
      { requestId: 'a', promptTokenIds: [1], priority: Number.NaN },
      { requestId: 'a', promptTokenIds: [1], arrivalTime: Number.POSITIVE_INFINITY },
      { requestId: 'a', promptTokenIds: [1], cacheSalt: 5 as unknown as string },
      { requestId: 'a', promptTokenIds: Array.from({ length: 101 }, () => 1) },
    ];
    for (const b of bad) expect(() => createRequest(b, 0, limits)).toThrow(InvalidRequestError);
  });
});

describe('appendToken', () => {
  const make = (sampling: object, promptLen = 3): Request =>
    createRequest({ requestId: 'a', promptTokenIds: Array(promptLen).fill(1), sampling }, 0, limits);
  const feed = (r: Request, toks: number[]) => {
    for (const t of toks) {
      const s = appendToken(r, t, limits.maxModelLen);
      if (s) return { ...s, at: r.outputTokenIds.length };
    }
    return null;
  };

  it('stops on EOS, but not among the first minTokens outputs nor with ignoreEos', () => {
    expect(feed(make({}), [4, 2, 4])).toEqual({ reason: 'stop', stopTokenId: null, at: 2 });
    expect(feed(make({ minTokens: 2 }), [2, 2, 2])).toEqual({ reason: 'stop', stopTokenId: null, at: 3 });
    expect(feed(make({ ignoreEos: true, maxTokens: 4 }), [2, 2, 2, 2, 2])).toEqual({
      reason: 'length',
      stopTokenId: null,
      at: 4,
    });
  });

  it('stops on a stop token id (kept in the output) and on maxModelLen', () => {
    const r = make({ stopTokenIds: [8, 9] });
    expect(feed(r, [4, 9, 8])).toEqual({ reason: 'stop', stopTokenId: 9, at: 2 });
    expect(r.outputTokenIds).toEqual([4, 9]);
    expect(r.allTokenIds).toEqual([1, 1, 1, 4, 9]);
    expect(feed(make({ maxTokens: 50 }, 97), [4, 4, 4, 4])).toEqual({
      reason: 'length',
      stopTokenId: null,
      at: 3,
    });
  });
});

describe('WaitingQueue', () => {
  it('pops in service order and skips removed entries, for both policies', () => {
    const rand = prng(3);
    for (const policy of ['fcfs', 'priority'] as const) {
      const q = new WaitingQueue(policy);
      const entries: Entry[] = [];
      for (let k = 0; k < 300; k++) {
        const req = createRequest(
          {
            requestId: `r${k}`,
            promptTokenIds: [1],
            priority: randInt(rand, 0, 3),
            arrivalTime: randInt(rand, 0, 50),
          },
          0,
          limits,
        );
        entries.push({ req, seq: k });
        q.push(entries[k]!);
      }
      for (const e of entries.slice(0, 40)) {
        e.req.status = 'finished';
        q.markRemoved();
      }
      expect(q.size).toBe(260);
      const expected = entries
        .slice(40)
        .sort((a, b) =>
          policy === 'priority' && a.req.priority !== b.req.priority
            ? a.req.priority - b.req.priority
            : a.req.arrivalTime - b.req.arrivalTime || a.seq - b.seq,
        );
      const got: Entry[] = [];
      for (let e = q.pop(); e !== undefined; e = q.pop()) got.push(e);
      expect(got.map((e) => e.seq)).toEqual(expected.map((e) => e.seq));
      expect(q.size).toBe(0);
      const sorted: Entry[] = [];
      for (const e of entries) insertSorted(sorted, e, policy);
      for (let k = 1; k < sorted.length; k++)
        expect(compareEntries(policy, sorted[k - 1]!, sorted[k]!)).toBeLessThan(0);
    }
  });
});
