import { describe, expect, it } from 'vitest';
import { type Case, checkResult, makeCases } from './test-collectives.js';
import { type RankOutcome, runRanks } from './test-threads.js';
import { type Buf, randomBuf, rng } from './test-util.js';
import type { WorkerStep } from './test-worker.js';
import { makeTopology } from './topology.js';

function stepsFor(cases: Case[], rank: number, s: number): WorkerStep[] {
  const steps: WorkerStep[] = cases.map((c) => ({
    group: 'world',
    op: c.op,
    input: c.inputs[rank]!,
    shape: c.shape,
    dim: c.dim,
    reduce: c.reduce,
    root: c.root,
  }));
  steps.push({ group: 'world', op: 'barrier' });
  if (s > 1) {
    // Ring exchange: even members send first, odd members receive first (send waits for its recv).
    const payload = Float32Array.from({ length: 300 }, (_, k) => rank * 1000 + k);
    const send: WorkerStep = { group: 'world', op: 'send', input: payload, peer: (rank + 1) % s };
    const recv: WorkerStep = {
      group: 'world',
      op: 'recv',
      input: new Float32Array(300),
      peer: (rank + s - 1) % s,
    };
    steps.push(...(rank % 2 === 0 ? [send, recv] : [recv, send]));
  }
  return steps;
}

function expectOk(o: RankOutcome | { exited: number }): RankOutcome {
  if ('exited' in o) throw new Error(`worker exited with code ${o.exited} before reporting`);
  if (!o.ok) throw new Error(`rank failed at step ${o.step}: ${o.name}: ${o.message}`);
  return o;
}

describe('ThreadCommunicator against a single-thread reference', () => {
  it.each([1, 2, 3, 4, 8])(
    '%i threads: every collective, f32/bf16/i32, dims 0, 1 and last',
    async (s) => {
      const cases = makeCases(s, 100 + s);
      const topo = makeTopology({ tp: s });
      // Small slots and channels force multi-step transfers with chunk edges inside rows.
      const outcomes = await runRanks(topo, (r) => stepsFor(cases, r, s), {
        slotBytes: Math.max(104, 8 * s * s + 8),
        p2pBytes: 136,
      });
      const misses: string[] = [];
      outcomes.forEach((o, rank) => {
        const { results } = expectOk(o);
        cases.forEach((c, k) => {
          const miss = checkResult(c, rank, results[k] as Buf);
          if (miss) misses.push(miss);
        });
        if (s > 1) {
          const got = results[results.length - (rank % 2 === 0 ? 1 : 2)] as Float32Array;
          const from = (rank + s - 1) % s;
          expect([...got]).toEqual(Array.from({ length: 300 }, (_, k) => from * 1000 + k));
        }
      });
      expect(misses.slice(0, 5)).toEqual([]);
    },
    60_000,
  );

  it('2 threads with the default slot sizes (single-step path)', async () => {
    const cases = makeCases(2, 7);
    const outcomes = await runRanks(makeTopology({ tp: 2 }), (r) => stepsFor(cases, r, 2));
    outcomes.forEach((o, rank) => {
      const { results } = expectOk(o);
      cases.forEach((c, k) => {
        expect(checkResult(c, rank, results[k] as Buf)).toBe('');
      });
    });
  }, 60_000);
});

describe('ThreadCommunicator call ordering', () => {
  it('collectives issued without awaiting keep their order; a ring exchange posts send and recv at once', async () => {
    const s = 4;
    const steps = (r: number): WorkerStep[] => {
      const msg = (k: number) => Int32Array.from({ length: 500 }, (_, j) => r * 100_000 + k * 1000 + j);
      return [
        { group: 'world', op: 'allReduce', input: Int32Array.of(r), noAwait: true },
        {
          group: 'world',
          op: 'allGather',
          input: Int32Array.of(r * 10, r * 10 + 1),
          shape: [2],
          dim: 0,
          noAwait: true,
        },
        { group: 'world', op: 'broadcast', input: Int32Array.of(r + 100), root: 2, noAwait: true },
        // Everyone sends twice to the next member and receives twice from the previous one, all at once.
        { group: 'world', op: 'send', input: msg(0), peer: (r + 1) % s, noAwait: true },
        { group: 'world', op: 'send', input: msg(1), peer: (r + 1) % s, noAwait: true },
        { group: 'world', op: 'recv', input: new Int32Array(500), peer: (r + s - 1) % s, noAwait: true },
        { group: 'world', op: 'recv', input: new Int32Array(500), peer: (r + s - 1) % s, noAwait: true },
      ];
    };
    const out = await runRanks(makeTopology({ tp: s }), steps, { slotBytes: 64, p2pBytes: 64 });
    out.forEach((o, r) => {
      const res = expectOk(o).results as Int32Array[];
      expect([...res[0]!]).toEqual([6]);
      expect([...res[1]!]).toEqual([0, 1, 10, 11, 20, 21, 30, 31]);
      expect([...res[2]!]).toEqual([102]);
      const from = (r + s - 1) % s;
      expect([...res[5]!]).toEqual(Array.from({ length: 500 }, (_, j) => from * 100_000 + j));
      expect([...res[6]!]).toEqual(Array.from({ length: 500 }, (_, j) => from * 100_000 + 1000 + j));
    });
  }, 60_000);
});

describe('ThreadCommunicator large all-reduce (reduce-scatter + all-gather path)', () => {
  it.each([3, 8])(
    '%i threads, 4099 elements (not divisible by the group), sum and max',
    async (s) => {
      const next = rng(77 + s);
      const cases: Case[] = (
        [
          ['f32', 'sum'],
          ['bf16', 'max'],
          ['i32', 'sum'],
        ] as const
      ).map(([dtype, reduce]) => ({
        op: 'allReduce',
        dtype,
        shape: [4099],
        dim: 0,
        reduce,
        root: 0,
        inputs: Array.from({ length: s }, () => randomBuf(dtype, 4099, next)),
      }));
      const steps = (r: number): WorkerStep[] =>
        cases.map((c) => ({ group: 'world', op: 'allReduce', input: c.inputs[r]!, reduce: c.reduce }));
      const out = await runRanks(makeTopology({ tp: s }), steps, { slotBytes: 8192 });
      const first = expectOk(out[0]!).results as Buf[];
      out.forEach((o, rank) => {
        const res = expectOk(o).results as Buf[];
        cases.forEach((c, k) => {
          expect(checkResult(c, rank, res[k]!)).toBe('');
          // Every member holds the same bits.
          expect([...res[k]!]).toEqual([...first[k]!]);
        });
      });
    },
    60_000,
  );
});

describe('ThreadCommunicator with halfFormat f16', () => {
  it('3 threads: every collective on f16 data matches the float64 reference', async () => {
    const cases = makeCases(3, 31, ['f16']);
    const out = await runRanks(makeTopology({ tp: 3 }), (r) => stepsFor(cases, r, 3), {
      halfFormat: 'f16',
      slotBytes: 104,
    });
    const misses: string[] = [];
    out.forEach((o, rank) => {
      const { results } = expectOk(o);
      cases.forEach((c, k) => {
        const miss = checkResult(c, rank, results[k] as Buf);
        if (miss) misses.push(miss);
      });
    });
    expect(misses.slice(0, 5)).toEqual([]);
  }, 60_000);
});
