import { describe, expect, it } from 'vitest';
import { type RankOutcome, runRanks } from './test-threads.js';
import {
  type Buf,
  num,
  randomBuf,
  refAbsSum,
  refAllGather,
  refAllToAll,
  refReduce,
  refReduceScatter,
  rng,
  type TestDType,
  tolerance,
} from './test-util.js';
import type { WorkerStep } from './test-worker.js';
import { makeTopology } from './topology.js';

type Op = 'allGather' | 'reduceScatter' | 'allReduce' | 'allToAll' | 'broadcast';
interface Case {
  op: Op;
  dtype: TestDType;
  shape: number[];
  dim: number;
  reduce: 'sum' | 'max';
  root: number;
  inputs: Buf[];
}

/** Every collective × dtype × dim (0, 1, last) on fresh random data for a group of `s` members. */
function makeCases(s: number, seed: number): Case[] {
  const next = rng(seed);
  const shape = [2, 3, 5];
  const n = shape.reduce((a, b) => a * b, 1);
  const cases: Case[] = [];
  const add = (op: Op, dtype: TestDType, dim: number, reduce: 'sum' | 'max' = 'sum', sh = shape) =>
    cases.push({
      op,
      dtype,
      shape: sh,
      dim,
      reduce,
      root: s - 1,
      inputs: Array.from({ length: s }, () => randomBuf(dtype, n, next)),
    });
  for (const dtype of ['f32', 'bf16', 'i32'] as const) {
    for (const dim of [0, 1, -1]) {
      add('allGather', dtype, dim);
      add('reduceScatter', dtype, dim, 'sum', [s, 2 * s, s]);
      add('allToAll', dtype, dim, 'sum', [s, 2 * s, s]);
    }
    add('reduceScatter', dtype, 1, 'max', [s, 2 * s, s]);
    add('allReduce', dtype, 0, 'sum');
    add('allReduce', dtype, 0, 'max');
    add('broadcast', dtype, 0);
  }
  // Fix lengths for the cases whose shape grew.
  for (const c of cases) {
    const len = c.shape.reduce((a, b) => a * b, 1);
    if (c.inputs[0]!.length !== len) c.inputs = c.inputs.map(() => randomBuf(c.dtype, len, next));
  }
  return cases;
}

function expected(c: Case, rank: number): number[] {
  const s = c.inputs.length;
  const dim = c.dim < 0 ? c.shape.length + c.dim : c.dim;
  switch (c.op) {
    case 'allGather':
      return refAllGather(c.inputs, c.shape, dim);
    case 'reduceScatter':
      return refReduceScatter(c.inputs, c.shape, dim, c.reduce, rank);
    case 'allReduce':
      return refReduce(c.inputs, c.reduce);
    case 'allToAll':
      return refAllToAll(c.inputs, c.shape, dim, rank);
    case 'broadcast':
      return Array.from(c.inputs[s - 1]!, (_, k) => num(c.inputs[s - 1]!, k));
  }
}

/** Compares one member's result with the float64 reference; returns a description of the first miss. */
export function checkResult(c: Case, rank: number, got: Buf): string {
  const want = expected(c, rank);
  if (got.length !== want.length)
    return `${c.op} ${c.dtype} dim ${c.dim}: length ${got.length} vs ${want.length}`;
  const reducing = c.op === 'reduceScatter' || c.op === 'allReduce';
  const scale = reducing && c.reduce === 'sum' ? refAbsSum(c.inputs) : undefined;
  const full = c.inputs[0]!.length;
  for (let k = 0; k < want.length; k++) {
    const g = num(got, k);
    let tol = 0;
    if (scale) {
      // Map output index k back to the reduced element to pick its scale.
      const idx = c.op === 'allReduce' ? k : -1;
      const sc = idx >= 0 ? scale[idx]! : Math.max(...scale.slice(0, full));
      tol = tolerance(c.dtype, sc);
    }
    if (!(Math.abs(g - want[k]!) <= tol)) {
      return `${c.op} ${c.dtype} dim ${c.dim} rank ${rank}: element ${k} is ${g}, want ${want[k]}`;
    }
  }
  return '';
}

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
      cases.forEach((c, k) => expect(checkResult(c, rank, results[k] as Buf)).toBe(''));
    });
  }, 60_000);
});
