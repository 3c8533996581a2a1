import { describe, expect, it } from 'vitest';
import type { Communicator, HostArray } from './communicator.js';
import { CommunicatorError } from './errors.js';
import { createLocalCommunicators } from './local.js';
import { createLocalGroups } from './local-groups.js';
import { type Case, checkResult, makeCases } from './test-collectives.js';
import type { Buf } from './test-util.js';
import { makeTopology } from './topology.js';

function runCase(c: Case, comm: Communicator<HostArray>): Promise<HostArray> {
  const input = c.inputs[comm.rank]!;
  switch (c.op) {
    case 'allGather':
      return comm.allGather(input, c.shape, c.dim);
    case 'reduceScatter':
      return comm.reduceScatter(input, c.shape, c.dim, c.reduce);
    case 'allReduce':
      return comm.allReduce(input, c.reduce);
    case 'allToAll':
      return comm.allToAll(input, c.shape, c.dim);
    case 'broadcast':
      return comm.broadcast(input, c.root);
  }
}

describe('createLocalCommunicators against a single-thread reference', () => {
  it.each([1, 2, 3, 4, 8])('%i members: every collective, f32/bf16/i32, dims 0, 1 and last', async (s) => {
    const cases = makeCases(s, 900 + s);
    const comms = createLocalCommunicators(s);
    const misses: string[] = [];
    for (const c of cases) {
      const outs = await Promise.all(comms.map((m) => runCase(c, m)));
      outs.forEach((o, r) => {
        const miss = checkResult(c, r, o as Buf);
        if (miss) misses.push(miss);
      });
    }
    expect(misses.slice(0, 5)).toEqual([]);
  });

  it('collectives issued back to back without awaiting keep their order', async () => {
    const comms = createLocalCommunicators(3);
    const outs = await Promise.all(
      comms.map((c) =>
        Promise.all([
          c.allReduce(Int32Array.of(c.rank)),
          c.allGather(Int32Array.of(c.rank * 10), [1], 0),
          c.barrier(),
          c.broadcast(Int32Array.of(c.rank + 100), 2),
        ]),
      ),
    );
    for (const [sum, gathered, , bcast] of outs) {
      expect([...(sum as Int32Array)]).toEqual([3]);
      expect([...(gathered as Int32Array)]).toEqual([0, 10, 20]);
      expect([...(bcast as Int32Array)]).toEqual([102]);
    }
  });

  it("int32 sums wrap like two's-complement hardware; bf16 max picks the exact largest value", async () => {
    const comms = createLocalCommunicators(2);
    const sums = await Promise.all(
      comms.map((c) => c.allReduce(Int32Array.of(c.rank === 0 ? 2 ** 31 - 1 : 1, -5))),
    );
    expect([...sums[0]!]).toEqual([-(2 ** 31), -10]);
    // bf16 bits: 0x3f80 = 1, 0xc000 = -2, 0x4040 = 3, 0x7f80 = +inf.
    const maxes = await Promise.all(
      comms.map((c) =>
        c.allReduce(c.rank === 0 ? Uint16Array.of(0x3f80, 0x7f80) : Uint16Array.of(0x4040, 0xc000), 'max'),
      ),
    );
    expect([...maxes[1]!]).toEqual([0x4040, 0x7f80]);
  });

  it('send/recv pairs deliver, and a length mismatch rejects both sides', async () => {
    const [a, b] = createLocalCommunicators(2);
    const [, got] = await Promise.all([
      a!.send(Float32Array.of(1, 2, 3), 1),
      b!.recv(new Float32Array(3), 0),
    ]);
    expect([...got]).toEqual([1, 2, 3]);
    const res = await Promise.allSettled([
      a!.send(Float32Array.of(1, 2), 1),
      b!.recv(new Float32Array(3), 0),
    ]);
    for (const r of res) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason)).toMatch(
        /receiver expects 3 f32 elements, sender sent 2 f32/,
      );
    }
  });

  it('mismatched calls reject every member', async () => {
    const comms = createLocalCommunicators(2);
    const res = await Promise.allSettled([
      comms[0]!.allGather(new Float32Array(4), [2, 2], 0),
      comms[1]!.allGather(new Float32Array(4), [4], 0),
    ]);
    for (const r of res) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(CommunicatorError);
      expect(String((r as PromiseRejectedResult).reason)).toMatch(
        /member 0 vs member 1: shape \[2,2\] vs \[4\]/,
      );
    }
  });

  it('a member that never arrives makes the others reject after the timeout', async () => {
    const comms = createLocalCommunicators(3, { timeoutMs: 50, name: 'dcp0' });
    const res = await Promise.allSettled([comms[0]!.barrier(), comms[2]!.barrier()]);
    for (const r of res) {
      expect(String((r as PromiseRejectedResult).reason)).toMatch(
        /dcp0: collective #0 \(barrier\) timed out after 50 ms; member\(s\) 1 never arrived/,
      );
    }
    await expect(comms[0]!.recv(new Float32Array(1), 1)).rejects.toThrow(/member 1 never called send/);
  });

  it('bad arguments reject naming the field', async () => {
    const [c] = createLocalCommunicators(1);
    await expect(c!.allGather(new Float32Array(3), [2], 0)).rejects.toThrow(/^shape: \[2\] holds 2 elements/);
    await expect(c!.allGather(new Float32Array(2), [2], 1)).rejects.toThrow(/^dim:/);
    await expect(c!.send(new Float32Array(2), 0)).rejects.toThrow(/^peer:/);
    await expect(c!.allReduce(new Float32Array(2), 'min' as 'sum')).rejects.toThrow(/^op:/);
    expect(() => createLocalCommunicators(0)).toThrow(/^size:/);
  });
});

describe('createLocalGroups', () => {
  it('tp4·pp2·dcp2: each rank gets world, TP, DCP and PP members matching the topology', async () => {
    const topo = makeTopology({ tp: 4, pp: 2, dcp: 2 });
    const groups = createLocalGroups(topo);
    const outs = await Promise.all(
      groups.map(async (g, r) => {
        const info = topo.ranks[r]!;
        expect(g.tp.rank).toBe(info.tpRank);
        expect(g.dcp.rank).toBe(info.dcpRank);
        expect(g.pp.rank).toBe(info.ppRank);
        expect(g.world.rank).toBe(r);
        const tp = await g.tp.allReduce(Int32Array.of(r));
        const dcp = await g.dcp.allGather(Int32Array.of(r), [1], 0);
        const pp = await g.pp.allGather(Int32Array.of(r), [1], 0);
        return { tp: tp[0], dcp: [...dcp], pp: [...pp] };
      }),
    );
    outs.forEach((o, r) => {
      const info = topo.ranks[r]!;
      expect(o.tp).toBe(info.tpGroup.reduce((a, b) => a + b, 0));
      expect(o.dcp).toEqual(info.dcpGroup);
      expect(o.pp).toEqual(info.ppGroup);
    });
  });
});

describe('halfFormat f16', () => {
  it.each([2, 3])('%i members: every collective on f16 data matches the float64 reference', async (s) => {
    const cases = makeCases(s, 1600 + s, ['f16']);
    const comms = createLocalCommunicators(s, { halfFormat: 'f16' });
    const misses: string[] = [];
    for (const c of cases) {
      const outs = await Promise.all(comms.map((m) => runCase(c, m)));
      outs.forEach((o, r) => {
        const miss = checkResult(c, r, o as Buf);
        if (miss) misses.push(miss);
      });
    }
    expect(misses.slice(0, 5)).toEqual([]);
  });

  it('the same f16 bits summed as bf16 give a different answer, so the option matters', async () => {
    const bits = Uint16Array.of(0x3c00, 0x4000); // f16: 1 and 2
    const sum = async (halfFormat: 'bf16' | 'f16') =>
      (await Promise.all(createLocalCommunicators(2, { halfFormat }).map((c) => c.allReduce(bits))))[0]!;
    expect([...(await sum('f16'))]).toEqual([0x4000, 0x4400]); // 2 and 4 in f16
    expect([...(await sum('bf16'))]).not.toEqual([0x4000, 0x4400]);
    expect(() => createLocalCommunicators(2, { halfFormat: 'fp8' as 'f16' })).toThrow(
      /^halfFormat: must be 'bf16' or 'f16'/,
    );
  });
});
