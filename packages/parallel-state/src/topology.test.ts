import { describe, expect, it } from 'vitest';
import { TopologyError } from './errors.js';
import { dcpHeadRange, headRange, layerRange, makeTopology } from './topology.js';

const seq = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

describe('makeTopology group tables', () => {
  it('tp8·dcp4: one TP group, DCP [0..3],[4..7]', () => {
    const t = makeTopology({ tp: 8, dcp: 4 });
    expect(t.worldSize).toBe(8);
    expect(t.tpGroups).toEqual([seq(0, 8)]);
    expect(t.dcpGroups).toEqual([seq(0, 4), seq(4, 8)]);
    expect(t.ppGroups).toEqual(seq(0, 8).map((r) => [r]));
    expect(t.ranks.map((r) => r.dcpRank)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(t.ranks.map((r) => r.dcpGroupIndex)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('tp4·pp2·dcp4: TP [0..3],[4..7]; PP pairs; one DCP group per stage', () => {
    const t = makeTopology({ tp: 4, pp: 2, dcp: 4 });
    expect(t.worldSize).toBe(8);
    expect(t.tpGroups).toEqual([seq(0, 4), seq(4, 8)]);
    expect(t.ppGroups).toEqual([
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ]);
    expect(t.dcpGroups).toEqual([seq(0, 4), seq(4, 8)]);
    expect(t.ranks[6]).toEqual({
      rank: 6,
      tpRank: 2,
      ppRank: 1,
      dcpRank: 2,
      dcpGroupIndex: 1,
      tpGroup: [4, 5, 6, 7],
      ppGroup: [2, 6],
      dcpGroup: [4, 5, 6, 7],
    });
  });

  it('tp8·dcp2: four pairs', () => {
    const t = makeTopology({ tp: 8, pp: 1, dcp: 2 });
    expect(t.dcpGroups).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    expect(t.ranks.map((r) => r.dcpRank)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('tp8·dcp8: the DCP group is the TP group; defaults give a single rank', () => {
    expect(makeTopology({ tp: 8, dcp: 8 }).dcpGroups).toEqual([seq(0, 8)]);
    const one = makeTopology({ tp: 1 });
    expect(one).toMatchObject({
      worldSize: 1,
      pp: 1,
      dcp: 1,
      tpGroups: [[0]],
      dcpGroups: [[0]],
      ppGroups: [[0]],
    });
  });

  it('every rank sits in exactly one group of each kind, consistent with its RankInfo', () => {
    for (const [tp, pp, dcp] of [
      [8, 1, 4],
      [4, 2, 4],
      [8, 1, 2],
      [6, 3, 3],
      [2, 4, 1],
      [12, 2, 6],
    ] as const) {
      const t = makeTopology({ tp, pp, dcp });
      expect(t.worldSize).toBe(tp * pp);
      for (const [groups, size] of [
        [t.tpGroups, tp],
        [t.ppGroups, pp],
        [t.dcpGroups, dcp],
      ] as const) {
        const all = groups.flat().sort((a, b) => a - b);
        expect(all).toEqual(seq(0, tp * pp));
        for (const g of groups) expect(g.length).toBe(size);
      }
      for (const r of t.ranks) {
        expect(r.rank).toBe(r.ppRank * tp + r.tpRank);
        expect(r.tpGroup[r.tpRank]).toBe(r.rank);
        expect(r.ppGroup[r.ppRank]).toBe(r.rank);
        expect(r.dcpGroup[r.dcpRank]).toBe(r.rank);
        expect(t.dcpGroups[r.dcpGroupIndex]).toBe(r.dcpGroup);
        // A DCP group is a consecutive slice inside the rank's TP group.
        expect(r.dcpGroup.every((x) => r.tpGroup.includes(x))).toBe(true);
        expect(r.dcpGroup).toEqual(seq(r.dcpGroup[0]!, r.dcpGroup[0]! + dcp));
      }
    }
  });

  it.each([
    [{ tp: 8, dcp: 3 }, 'dcp'],
    [{ tp: 4, dcp: 8 }, 'dcp'],
    [{ tp: 8, dcp: 0 }, 'dcp'],
    [{ tp: 8, dcp: 2.5 }, 'dcp'],
    [{ tp: 0 }, 'tp'],
    [{ tp: 1.5 }, 'tp'],
    [{ tp: -2 }, 'tp'],
    [{ tp: Number.NaN }, 'tp'],
    [{ tp: '8' as unknown as number }, 'tp'],
    [{ tp: 2, pp: 0 }, 'pp'],
    [{ tp: 2, pp: 1.2 }, 'pp'],
  ])('refuses %o naming %s', (input, field) => {
    let err: unknown;
    try {
      makeTopology(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as TopologyError).field).toBe(field);
    expect((err as Error).message.startsWith(`${field}:`)).toBe(true);
  });
});

describe('head ownership', () => {
  it('TP rank t owns [t·N, (t+1)·N); the DCP group covers its ranks’ heads', () => {
    const t = makeTopology({ tp: 4, pp: 2, dcp: 2 });
    // 16 heads over tp 4 → 4 each; rank 6 is tpRank 2 → heads 8..11; its DCP group {6,7} → 8..15.
    expect(headRange(t, 6, 16)).toEqual({ start: 8, end: 12 });
    expect(headRange(t, 1, 16)).toEqual({ start: 4, end: 8 });
    expect(dcpHeadRange(t, 6, 16)).toEqual({ start: 8, end: 16 });
    expect(dcpHeadRange(t, 1, 16)).toEqual({ start: 0, end: 8 });
    for (const r of t.ranks) {
      const h = headRange(t, r.rank, 16);
      const g = dcpHeadRange(t, r.rank, 16);
      expect(g.start + r.dcpRank * 4).toBe(h.start);
    }
  });

  it('refuses heads that do not split and ranks outside the world', () => {
    const t = makeTopology({ tp: 4 });
    expect(() => headRange(t, 0, 10)).toThrow(/^numHeads: 10 attention heads/);
    expect(() => headRange(t, 0, 0)).toThrow(/^numHeads:/);
    expect(() => headRange(t, 4, 16)).toThrow(/^rank: must be an integer in \[0, 4\)/);
    expect(() => headRange(t, -1, 16)).toThrow(TopologyError);
  });
});

describe('layerRange', () => {
  it('splits evenly when possible and gives extras to the stages before the last', () => {
    const sizes = (n: number, pp: number) =>
      seq(0, pp).map((s) => {
        const r = layerRange(n, pp, s);
        return r.end - r.start;
      });
    expect(sizes(8, 4)).toEqual([2, 2, 2, 2]);
    expect(sizes(27, 4)).toEqual([7, 7, 7, 6]);
    expect(sizes(60, 7)).toEqual([8, 8, 9, 9, 9, 9, 8]);
    expect(sizes(5, 2)).toEqual([3, 2]);
    expect(sizes(3, 3)).toEqual([1, 1, 1]);
    expect(layerRange(27, 1, 0)).toEqual({ start: 0, end: 27 });
  });

  it('stages tile [0, numLayers) contiguously and differ by at most one layer', () => {
    for (let n = 1; n <= 40; n++) {
      for (let pp = 1; pp <= n && pp <= 9; pp++) {
        let next = 0;
        const sizes: number[] = [];
        for (let s = 0; s < pp; s++) {
          const r = layerRange(n, pp, s);
          expect(r.start).toBe(next);
          sizes.push(r.end - r.start);
          next = r.end;
        }
        expect(next).toBe(n);
        expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('refuses an empty stage and bad input', () => {
    expect(() => layerRange(3, 4, 0)).toThrow(
      /^pp: 4 pipeline stages for 3 layers would leave a stage empty/,
    );
    expect(() => layerRange(0, 1, 0)).toThrow(/^numLayers:/);
    expect(() => layerRange(8, 2, 2)).toThrow(/^ppRank:/);
    expect(() => layerRange(8, 0, 0)).toThrow(/^pp:/);
  });
});
