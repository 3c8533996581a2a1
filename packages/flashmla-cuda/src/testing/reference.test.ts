import { describe, expect, it } from 'vitest';
import { refAttention, refCorrectionFactor, refGlobalLse, relError, rng } from './reference.js';

describe('float64 references used by the GPU checks', () => {
  it('attention over one key returns that key and its scaled score', () => {
    const q = [1, 2, 3];
    const k = [0.5, -1, 2];
    const r = refAttention(q, 0, 1, 3, 2, 1, () => ({ data: k, off: 0 }), 0.5);
    expect(Array.from(r.out)).toEqual([0.5, -1]);
    expect(r.lse[0]).toBeCloseTo(0.5 * (0.5 - 2 + 6), 12);
  });

  it('attention over equal scores averages the values, LSE = s + ln n', () => {
    const keys = [
      [1, 0, 4],
      [1, 0, 8],
    ];
    const r = refAttention([1, 0, 0], 0, 1, 3, 3, 2, (j) => ({ data: keys[j]!, off: 0 }), 1);
    expect(Array.from(r.out)).toEqual([1, 0, 6]);
    expect(r.lse[0]).toBeCloseTo(1 + Math.log(2), 12);
  });

  it('empty attention gives LSE -inf and zeros', () => {
    const r = refAttention([1, 1], 0, 1, 2, 2, 0, () => ({ data: [], off: 0 }), 1);
    expect(r.lse[0]).toBe(Number.NEGATIVE_INFINITY);
    expect(Array.from(r.out)).toEqual([0, 0]);
  });

  it('global LSE and correction factors sanitise NaN/+inf and all-empty rows', () => {
    expect(refGlobalLse([Math.log(2), Math.log(3)])).toBeCloseTo(Math.log(5), 12);
    expect(refGlobalLse([1, 3], true)).toBeCloseTo(Math.log2(2 + 8), 12);
    expect(refGlobalLse([Number.NaN, Number.POSITIVE_INFINITY, 0])).toBeCloseTo(0, 12);
    expect(refGlobalLse([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBe(Number.NEGATIVE_INFINITY);
    expect(refCorrectionFactor([Math.log(1), Math.log(3)], 1)).toBeCloseTo(0.75, 12);
    expect(refCorrectionFactor([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY], 0)).toBe(0);
  });

  it('relError is relative, and NaN is never close', () => {
    expect(relError([1.1, 0], [1, 0])).toBeCloseTo(0.1, 12);
    expect(relError([Number.NaN], [1])).toBe(Number.POSITIVE_INFINITY);
    const r = rng(5);
    const a = Array.from({ length: 4 }, r);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(rng(5)()).toBe(a[0]);
  });
});
