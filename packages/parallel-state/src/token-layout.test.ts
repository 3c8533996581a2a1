import { describe, expect, it } from 'vitest';
import { TokenLayoutError } from './errors.js';
import { rng } from './test-util.js';
import {
  expandQueryBounds,
  globalToLocal,
  localQueryBounds,
  localSeqLen,
  localSeqLens,
  localSeqLensAllRanks,
  localToGlobal,
  ownerOf,
  slotMapping,
} from './token-layout.js';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

/** Oracle by position counting: rank of p is ⌊p/I⌋ mod W; its local index counts earlier owned positions. */
function countingLayout(maxPos: number, w: number, i: number) {
  const owner: number[] = [];
  const local: number[] = [];
  const seen = new Array<number>(w).fill(0);
  for (let p = 0; p < maxPos; p++) {
    const r = Math.floor(p / i) % w;
    owner.push(r);
    local.push(seen[r]!++);
  }
  return { owner, local };
}

/** Oracle slot: local index j lives in block table entry ⌊j/B⌋ at offset j mod B. */
function countingSlots(positions: number[], bt: number[], b: number, w: number, i: number, r: number) {
  const { owner, local } = countingLayout(Math.max(0, ...positions) + 1, w, i);
  return positions.map((p) => (owner[p] === r ? bt[Math.floor(local[p]! / b)]! * b + (local[p]! % b) : -1));
}

function naiveLocal(len: number, w: number, i: number, r: number): number {
  let n = 0;
  for (let p = 0; p < len; p++) if (Math.floor(p / i) % w === r) n++;
  return n;
}

describe('slotMapping hand tables', () => {
  it('spec worked example: I=1, B=4, W=2, blocks [10,20], positions 0..11', () => {
    const pos = range(0, 12);
    const opt = { blockSize: 4, dcp: 2, interleave: 1 };
    expect([...slotMapping(pos, [10, 20], { ...opt, dcpRank: 0 })]).toEqual([
      40, -1, 41, -1, 42, -1, 43, -1, 80, -1, 81, -1,
    ]);
    expect([...slotMapping(pos, [10, 20], { ...opt, dcpRank: 1 })]).toEqual([
      -1, 40, -1, 41, -1, 42, -1, 43, -1, 80, -1, 81,
    ]);
  });

  it('no DCP: B=16 blocks [5,6,7] and two rows, the tile boundary case', () => {
    const opt = { blockSize: 16, dcp: 1, dcpRank: 0, interleave: 1 };
    expect([...slotMapping([0, 15, 16, 47], [5, 6, 7], opt)]).toEqual([80, 95, 96, 127]);
    expect([...slotMapping([3], [9, 2], opt)]).toEqual([147]);
    expect([...slotMapping([20], [7, 4], opt)]).toEqual([68]);
    expect([...slotMapping([0, 1], [0], opt)]).toEqual([0, 1]);
    expect([...slotMapping([0, 1], [4, 5, 6, 7], opt)]).toEqual([64, 65]);
    const blocks = range(1, 66);
    expect([...slotMapping(range(1023, 1030), blocks, opt)]).toEqual(range(1039, 1046));
  });

  it('W=2, r=1, I=1, B=16, blocks [5,6]: odd offsets, position 33 opens block 6', () => {
    const s = slotMapping([0, 1, 2, 3, 4, 5, 32, 33], [5, 6], {
      blockSize: 16,
      dcp: 2,
      dcpRank: 1,
      interleave: 1,
    });
    expect([...s]).toEqual([-1, 80, -1, 81, -1, 82, -1, 96]);
  });

  it('W=8 (dcp4·pcp2 flattened), I=1, B=16: rank k gets slot 0 at k and slot 1 at k+8', () => {
    for (let k = 0; k < 8; k++) {
      const s = slotMapping(range(0, 16), range(0, 16), { blockSize: 16, dcp: 8, dcpRank: k, interleave: 1 });
      const want = new Array<number>(16).fill(-1);
      want[k] = 0;
      want[k + 8] = 1;
      expect([...s]).toEqual(want);
    }
  });

  it('W=8, I=16, 18 positions: rank 0 holds 0..15, rank 1 holds 16..17, the rest nothing', () => {
    const opt = { blockSize: 16, dcp: 8, interleave: 16 };
    const pos = range(0, 18);
    expect([...slotMapping(pos, [0], { ...opt, dcpRank: 0 })]).toEqual([...range(0, 16), -1, -1]);
    expect([...slotMapping(pos, [0], { ...opt, dcpRank: 1 })]).toEqual([...new Array(16).fill(-1), 0, 1]);
    for (let r = 2; r < 8; r++)
      expect([...slotMapping(pos, [0], { ...opt, dcpRank: r })]).toEqual(new Array(18).fill(-1));
  });

  it('B=128, W=4, I=128 (block-level split), blocks [5,9], positions 0..1023', () => {
    for (let r = 0; r < 4; r++) {
      const s = slotMapping(range(0, 1024), [5, 9], { blockSize: 128, dcp: 4, dcpRank: r, interleave: 128 });
      for (let p = 0; p < 1024; p++) {
        const want =
          p >= 128 * r && p < 128 * r + 128
            ? 5 * 128 + (p - 128 * r)
            : p >= 512 + 128 * r && p < 512 + 128 * r + 128
              ? 9 * 128 + (p - 512 - 128 * r)
              : -1;
        expect(s[p]).toBe(want);
      }
    }
  });
});

describe('slotMapping against position counting', () => {
  const cases: [number, number, number][] = [];
  for (const w of [1, 2, 3, 4, 8])
    for (const b of [1, 4, 16]) for (const i of [1, 2, 4, 16]) if (b % i === 0) cases.push([w, b, i]);

  it.each(cases)('W=%i B=%i I=%i: matches, every token on exactly one rank, slots distinct', (w, b, i) => {
    const next = rng(w * 1000 + b * 10 + i);
    const nBlocks = 6;
    const bt = range(0, 50)
      .sort(() => next() - 0.5)
      .slice(0, nBlocks);
    const total = nBlocks * b * w;
    const positions = range(0, total);
    const owners = new Array<number>(total).fill(0);
    for (let r = 0; r < w; r++) {
      const s = slotMapping(positions, bt, { blockSize: b, dcp: w, dcpRank: r, interleave: i });
      expect([...s]).toEqual(countingSlots(positions, bt, b, w, i, r));
      const used = [...s].filter((x) => x >= 0);
      expect(new Set(used).size).toBe(used.length);
      s.forEach((x, p) => {
        if (x >= 0) owners[p]!++;
      });
      // A ragged window (prefix offset) maps each position as in the full sequence.
      const lo = Math.floor(next() * total);
      const hi = lo + Math.floor(next() * (total - lo));
      const win = slotMapping(positions.slice(lo, hi), bt, {
        blockSize: b,
        dcp: w,
        dcpRank: r,
        interleave: i,
      });
      expect([...win]).toEqual([...s.subarray(lo, hi)]);
    }
    expect(owners.every((n) => n === 1)).toBe(true);
  });

  it('W=3, I=1, B=16: a 1024-token prompt in 128-token chunks maps like position counting, each token once', () => {
    const w = 3;
    const b = 16;
    const bt = range(0, Math.ceil(1024 / (b * w))).map((v) => 100 + 7 * v);
    const { owner, local } = countingLayout(1024, w, 1);
    const seen = new Array<number>(1024).fill(0);
    for (let start = 0; start < 1024; start += 128) {
      const chunk = range(start, start + 128);
      for (let r = 0; r < w; r++) {
        const s = slotMapping(chunk, bt, { blockSize: b, dcp: w, dcpRank: r, interleave: 1 });
        chunk.forEach((p, k) => {
          const want = owner[p] === r ? bt[Math.floor(local[p]! / b)]! * b + (local[p]! % b) : -1;
          if (s[k] !== want) throw new Error(`rank ${r} position ${p}: slot ${s[k]}, want ${want}`);
          if (s[k]! >= 0) seen[p]!++;
        });
        // The cached context before this chunk, per rank: exactly the owned positions < start.
        const ctx = localSeqLen(start, { dcp: w, dcpRank: r, interleave: 1 });
        expect(ctx).toBe(owner.slice(0, start).filter((o) => o === r).length);
        const blocks = Math.ceil(ctx / b);
        expect(blocks * b).toBeGreaterThanOrEqual(ctx);
        if (ctx === 0) expect(blocks).toBe(0);
      }
    }
    expect(seen.every((n) => n === 1)).toBe(true);
  });

  it('refuses bad input naming the field', () => {
    const opt = { blockSize: 16, dcp: 2, dcpRank: 0, interleave: 1 };
    expect(() => slotMapping([0], [1], { ...opt, interleave: 3 })).toThrow(
      /^interleave: 3 must divide blockSize 16/,
    );
    expect(() => slotMapping([0], [1], { ...opt, interleave: 32 })).toThrow(/^interleave:/);
    expect(() => slotMapping([0], [1], { ...opt, dcpRank: 2 })).toThrow(
      /^dcpRank: must be an integer in \[0, 2\)/,
    );
    expect(() => slotMapping([0], [1], { ...opt, dcp: 0 })).toThrow(/^dcp:/);
    expect(() => slotMapping([0], [1], { ...opt, blockSize: 0 })).toThrow(/^blockSize:/);
    expect(() => slotMapping([0, -1], [1], opt)).toThrow(/^positions\[1\]:/);
    expect(() => slotMapping([0, 1.5], [1], opt)).toThrow(/^positions\[1\]:/);
    expect(() => slotMapping([32], [1], opt)).toThrow(
      /^blockTable: position 32 \(positions\[0\]\) needs virtual block 1/,
    );
    expect(() => slotMapping([0], [-3], opt)).toThrow(/^blockTable\[0\]:/);
    expect(() => slotMapping([0], [1], { ...opt, interleave: 0 })).toThrow(TokenLayoutError);
  });

  it('a token another rank owns never touches the block table', () => {
    // Position 1 belongs to rank 1; rank 0 needs no table entry for it.
    expect([...slotMapping([1], [], { blockSize: 4, dcp: 2, dcpRank: 0, interleave: 1 })]).toEqual([-1]);
  });
});

describe('localSeqLen', () => {
  it('hand tables (W=2 I=1; W=2 I=128; W=4 I=128) and the #27518 regression L=4, W=2 → [2,2]', () => {
    const all = (l: number, w: number, i: number) => [
      ...localSeqLensAllRanks([l], { dcp: w, interleave: i }),
    ];
    expect([1, 2, 4, 5, 9].map((l) => all(l, 2, 1))).toEqual([
      [1, 0],
      [1, 1],
      [2, 2],
      [3, 2],
      [5, 4],
    ]);
    expect([1, 2, 128, 129, 256, 257].map((l) => all(l, 2, 128))).toEqual([
      [1, 0],
      [2, 0],
      [128, 0],
      [128, 1],
      [128, 128],
      [129, 128],
    ]);
    expect(all(129, 4, 128)).toEqual([128, 1, 0, 0]);
    expect(all(257, 4, 128)).toEqual([128, 128, 1, 0]);
    // The pre-#27518 expression L//W + (r <= (L-1)%W) would give [3, 3].
    expect([0, 1].map((r) => localSeqLen(4, { dcp: 2, dcpRank: r, interleave: 1 }))).toEqual([2, 2]);
  });

  it('L = 0 gives zeros on every rank', () => {
    for (const w of [1, 2, 3, 4, 8]) {
      for (const i of [1, 2, 4, 16, 128])
        expect([...localSeqLensAllRanks([0], { dcp: w, interleave: i })]).toEqual(new Array(w).fill(0));
    }
  });

  it('matches position counting; Σ = L; max − min ≤ I (W ∈ 1,2,3,4,8; I ∈ 1,2,4,16,64,128)', () => {
    const lengths = [...range(0, 300), 4095, 4096, 4097, 8191, 8192, 22860];
    for (const w of [1, 2, 3, 4, 8]) {
      for (const i of [1, 2, 4, 16, 64, 128]) {
        const table = localSeqLensAllRanks(lengths, { dcp: w, interleave: i });
        lengths.forEach((l, k) => {
          const row = [...table.subarray(k * w, (k + 1) * w)];
          expect(row).toEqual(range(0, w).map((r) => naiveLocal(l, w, i, r)));
          expect(row.reduce((a, b) => a + b, 0)).toBe(l);
          expect(Math.max(...row) - Math.min(...row)).toBeLessThanOrEqual(i);
          expect(row).toEqual(range(0, w).map((r) => localSeqLen(l, { dcp: w, dcpRank: r, interleave: i })));
        });
      }
    }
  });

  it('random cases: properties hold for random W, I and L up to 10^6', () => {
    const next = rng(4242);
    for (let c = 0; c < 1000; c++) {
      const w = 1 + Math.floor(next() * 16);
      const i = 1 + Math.floor(next() * 200);
      const l = Math.floor(next() * 1_000_000);
      const row = [...localSeqLensAllRanks([l], { dcp: w, interleave: i })];
      expect(row.reduce((a, b) => a + b, 0)).toBe(l);
      expect(Math.max(...row) - Math.min(...row)).toBeLessThanOrEqual(i);
      // Rank r's tokens are local indices [0, local(r)): the last one maps below L, the next one to ≥ L.
      row.forEach((n, r) => {
        const shard = { dcp: w, dcpRank: r, interleave: i };
        if (n > 0) expect(localToGlobal(n - 1, shard)).toBeLessThan(l);
        expect(localToGlobal(n, shard)).toBeGreaterThanOrEqual(l);
      });
    }
  });

  it('per-token bounds of W=4, I=2 (vLLM table)', () => {
    const lens = [0, 1, 2, 3, 4, 7, 8, 17];
    const want = [
      [0, 1, 2, 2, 2, 2, 2, 5],
      [0, 0, 0, 1, 2, 2, 2, 4],
      [0, 0, 0, 0, 0, 2, 2, 4],
      [0, 0, 0, 0, 0, 1, 2, 4],
    ];
    for (let r = 0; r < 4; r++)
      expect([...localSeqLens(lens, { dcp: 4, dcpRank: r, interleave: 2 })]).toEqual(want[r]);
  });

  it('multi-token decode: localise after expanding the bounds', () => {
    const shard = { dcp: 2, dcpRank: 1, interleave: 1 };
    expect([...expandQueryBounds(10, 3)]).toEqual([8, 9, 10]);
    expect([...localQueryBounds(10, 3, shard)]).toEqual([4, 4, 5]);
    // The wrong order (localise L, then subtract offsets) would give [3, 4, 5].
    const wrong = [2, 1, 0].map((d) => localSeqLen(10, shard) - d);
    expect(wrong).toEqual([3, 4, 5]);
    expect([...localQueryBounds(10, 3, shard)]).not.toEqual(wrong);
    expect([...localQueryBounds(13, 3, shard)]).toEqual([5, 6, 6]);
    expect(() => expandQueryBounds(2, 3)).toThrow(/^seqLen:/);
    expect(() => expandQueryBounds(5, 0)).toThrow(/^numQueryTokens:/);
  });

  it('refuses bad input naming the field', () => {
    expect(() => localSeqLen(-1, { dcp: 2, dcpRank: 0, interleave: 1 })).toThrow(/^seqLen:/);
    expect(() => localSeqLen(3, { dcp: 2, dcpRank: 0, interleave: 0 })).toThrow(/^interleave:/);
    expect(() => localSeqLens([1, 2.5], { dcp: 2, dcpRank: 0, interleave: 1 })).toThrow(/^seqLens\[1\]:/);
    expect(() => localSeqLensAllRanks([1], { dcp: 0, interleave: 1 })).toThrow(/^dcp:/);
  });
});

describe('ownership and the local ↔ global maps', () => {
  it('owners, local indices and their inverse agree with position counting (dcp 3 included)', () => {
    for (const w of [1, 2, 3, 4, 8]) {
      for (const i of [1, 2, 4, 16]) {
        const { owner, local } = countingLayout(700, w, i);
        const ps = range(0, 700);
        expect(ps.map((p) => ownerOf(p, { dcp: w, interleave: i }))).toEqual(owner);
        for (let r = 0; r < w; r++) {
          const shard = { dcp: w, dcpRank: r, interleave: i };
          expect(ps.map((p) => globalToLocal(p, shard))).toEqual(
            ps.map((p) => (owner[p] === r ? local[p] : -1)),
          );
        }
        expect(
          ps.map((p) => localToGlobal(local[p]!, { dcp: w, dcpRank: owner[p]!, interleave: i })),
        ).toEqual(ps);
      }
    }
  });

  it('refuses bad input', () => {
    expect(() => ownerOf(-1, { dcp: 2, interleave: 1 })).toThrow(/^position:/);
    expect(() => localToGlobal(-1, { dcp: 2, dcpRank: 0, interleave: 1 })).toThrow(/^j:/);
    expect(() => globalToLocal(3, { dcp: 2, dcpRank: 5, interleave: 1 })).toThrow(/^dcpRank:/);
  });
});
