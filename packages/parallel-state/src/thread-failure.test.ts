import { describe, expect, it } from 'vitest';
import { type RankOutcome, runRanks } from './test-threads.js';
import type { StepResult, WorkerStep } from './test-worker.js';
import { makeTopology } from './topology.js';

const big = (rank: number) => Float32Array.from({ length: 4096 }, (_, k) => rank + k);

function outcome(o: RankOutcome | { exited: number }): RankOutcome {
  if ('exited' in o) throw new Error(`worker exited with code ${o.exited} before reporting`);
  return o;
}

describe('ThreadCommunicator failures', () => {
  it('a rank that exits mid-collective makes every other rank reject naming it (no timeout needed)', async () => {
    const steps = (r: number): WorkerStep[] => [
      { group: 'world', op: 'allGather', input: big(r), shape: [64, 64], dim: 1 },
      { group: 'world', op: 'barrier' },
    ];
    // A ten-minute timeout: only the death report can end the wait within the test's time.
    const out = await runRanks(makeTopology({ tp: 4 }), steps, { timeoutMs: 600_000, slotBytes: 64 }, (r) =>
      r === 2 ? { dieAtStep: 0, exitCode: 7 } : {},
    );
    expect(out[2]).toEqual({ exited: 7 });
    for (const r of [0, 1, 3]) {
      const o = outcome(out[r]!);
      expect(o.ok).toBe(false);
      expect(o.name).toBe('CommunicatorError');
      expect(o.message).toMatch(/group world: .*rank 2 \(member 2\) exited with code 7/);
    }
  }, 60_000);

  it('a rank that never arrives makes the others reject after the timeout, naming it', async () => {
    const steps = (): WorkerStep[] => [{ group: 'world', op: 'allReduce', input: new Float32Array(8) }];
    const out = await runRanks(makeTopology({ tp: 3 }), steps, { timeoutMs: 1500 }, (r) =>
      r === 1 ? { idleAtStep: 0 } : {},
    );
    expect(outcome(out[1]!).idle).toBe(true);
    for (const r of [0, 2]) {
      const o = outcome(out[r]!);
      expect(o.ok).toBe(false);
      expect(o.message).toMatch(
        /timed out after 1500 ms on member \d; member\(s\) 1 \(rank 1\) never arrived|a timeout waiting involving rank 1 \(member 1\)/,
      );
    }
  }, 60_000);

  it('a send whose peer never receives rejects after the timeout, naming the peer', async () => {
    const steps = (r: number): WorkerStep[] =>
      r === 0
        ? [{ group: 'world', op: 'send', input: new Float32Array(4), peer: 1 }]
        : [{ group: 'world', op: 'barrier' }];
    const out = await runRanks(makeTopology({ tp: 2 }), steps, { timeoutMs: 1000 }, (r) =>
      r === 1 ? { idleAtStep: 0 } : {},
    );
    expect(outcome(out[0]!).message).toMatch(
      /send to member 1 timed out after 1000 ms on member 0; member\(s\) 1 \(rank 1\) never arrived/,
    );
  }, 60_000);

  it('mismatched calls reject on every member, and the group stays unusable', async () => {
    const steps = (r: number): WorkerStep[] => [
      {
        group: 'world',
        op: 'allGather',
        input: new Float32Array(8),
        shape: r === 0 ? [4, 2] : [2, 4],
        dim: 0,
      },
      { group: 'world', op: 'barrier' },
    ];
    const out = await runRanks(makeTopology({ tp: 2 }), steps, {}, () => ({ keepGoing: true }));
    for (const o of out) {
      const res = outcome(o).results as { error: string }[];
      expect(res[0]!.error).toMatch(
        /does not match across members: shape \[4,2\] on member 0 vs \[2,4\] on member 1/,
      );
      expect(res[1]!.error).toMatch(
        /barrier on member \d cannot run: mismatched calls .*the group is unusable/,
      );
    }
  }, 60_000);

  it('send/recv with different lengths rejects on both sides', async () => {
    const steps = (r: number): WorkerStep[] =>
      r === 0
        ? [{ group: 'world', op: 'send', input: new Float32Array(10), peer: 1 }]
        : [{ group: 'world', op: 'recv', input: new Float32Array(12), peer: 0 }];
    const out = await runRanks(makeTopology({ tp: 2 }), steps, {}, () => ({ keepGoing: true }));
    const [a, b] = out.map((o) => outcome(o).results[0] as { error: string });
    expect(b!.error).toMatch(/recv from member 0: member 0 sent 10 f32 elements, member 1 expects 12 f32/);
    expect(a!.error).toMatch(/send to member 1 on member 0 cannot run: a send\/recv size mismatch/);
  }, 60_000);

  it('bad arguments reject with the field named', async () => {
    const steps = (): WorkerStep[] => [
      { group: 'world', op: 'allGather', input: new Float32Array(6), shape: [2, 2], dim: 0 },
      { group: 'world', op: 'reduceScatter', input: new Float32Array(6), shape: [3, 2], dim: 0 },
      { group: 'world', op: 'allGather', input: new Float32Array(6), shape: [3, 2], dim: 2 },
      { group: 'world', op: 'send', input: new Float32Array(6), peer: 0 },
      { group: 'world', op: 'broadcast', input: new Float32Array(6), root: 5 },
      { group: 'world', op: 'allReduce', input: new Float64Array(2) as unknown as Float32Array },
    ];
    const out = await runRanks(makeTopology({ tp: 2 }), steps, {}, () => ({ keepGoing: true }));
    const errs = (outcome(out[0]!).results as StepResult[]).map((x) => (x as { error: string }).error);
    expect(errs[0]).toMatch(/^shape: \[2, 2\] holds 4 elements but the buffer has 6/);
    expect(errs[1]).toMatch(
      /^shape\[0\]: reduceScatter along dim 0 needs a size divisible by the group size 2, got 3/,
    );
    expect(errs[2]).toMatch(/^dim: must be an integer in \[-2, 2\), got 2/);
    expect(errs[3]).toMatch(/^peer: must be another member/);
    expect(errs[4]).toMatch(/^root: must be an integer in \[0, 2\)/);
    expect(errs[5]).toMatch(/^input: must be a Float32Array, Uint16Array \(bf16\) or Int32Array/);
  }, 60_000);
});

describe('ThreadCommunicator groups of a topology', () => {
  it('tp4·pp2·dcp2 on 8 threads: TP all-reduce, DCP all-gather and PP send/recv use the right ranks', async () => {
    const topo = makeTopology({ tp: 4, pp: 2, dcp: 2 });
    const steps = (r: number): WorkerStep[] => {
      const info = topo.ranks[r]!;
      const mine = Int32Array.of(r);
      const s: WorkerStep[] = [
        { group: 'tp', op: 'allReduce', input: mine },
        { group: 'dcp', op: 'allGather', input: mine, shape: [1], dim: 0 },
        { group: 'world', op: 'allGather', input: mine, shape: [1], dim: 0 },
      ];
      s.push(
        info.ppRank === 0
          ? { group: 'pp', op: 'send', input: Int32Array.of(r * 10), peer: 1 }
          : { group: 'pp', op: 'recv', input: new Int32Array(1), peer: 0 },
      );
      return s;
    };
    const out = await runRanks(topo, steps);
    out.forEach((o, r) => {
      const res = outcome(o).results as Int32Array[];
      const info = topo.ranks[r]!;
      expect(res[0]![0]).toBe(info.tpGroup.reduce((a, b) => a + b, 0));
      expect([...res[1]!]).toEqual(info.dcpGroup);
      expect([...res[2]!]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      if (info.ppRank === 1) expect([...res[3]!]).toEqual([info.ppGroup[0]! * 10]);
    });
  }, 60_000);
});
