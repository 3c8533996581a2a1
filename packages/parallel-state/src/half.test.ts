import { describe, expect, it } from 'vitest';
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from './half.js';
import { rng } from './test-util.js';

describe('f16', () => {
  it('decodes known patterns', () => {
    const table: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x3800, 0.5],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x3555, 0.333251953125],
      [0x7c00, Number.POSITIVE_INFINITY],
      [0xfc00, Number.NEGATIVE_INFINITY],
    ];
    for (const [bits, v] of table) expect(f16ToNumber(bits)).toBe(v);
    expect(Object.is(f16ToNumber(0x8000), -0)).toBe(true);
    expect(f16ToNumber(0x7e00)).toBeNaN();
  });

  it('positive finite patterns decode strictly increasing, each encoding back to itself', () => {
    let prev = -1;
    for (let h = 0; h <= 0x7bff; h++) {
      const v = f16ToNumber(h);
      if (!(v > prev)) throw new Error(`pattern ${h.toString(16)} decodes to ${v}, not above ${prev}`);
      if (
        numberToF16(v) !== h ||
        numberToF16(-v) !== (h | 0x8000) ||
        (h === 0 && numberToF16(-0) !== 0x8000)
      ) {
        throw new Error(`pattern ${h.toString(16)} does not round-trip`);
      }
      prev = v;
    }
  });

  it('encodes to the nearest value, ties to even, overflow to infinity', () => {
    const next = rng(16);
    for (let k = 0; k < 20000; k++) {
      // Values from 2^-26 to 2^17, both signs, as float32 numbers.
      const x = Math.fround((next() < 0.5 ? -1 : 1) * 2 ** (next() * 43 - 26));
      const h = numberToF16(x);
      const v = f16ToNumber(h);
      if (Math.abs(x) >= 65520) {
        // IEEE rounding: past the largest finite value plus half an ulp, the result is ±∞.
        if (v !== Math.sign(x) * Number.POSITIVE_INFINITY) throw new Error(`${x} encodes to ${v}`);
        continue;
      }
      const err = Math.abs(x - v);
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7c00 || n < 0 || (n ^ h) & 0x8000) continue;
        const alt = f16ToNumber(n);
        if (Math.abs(x - alt) < err) throw new Error(`${x} encodes to ${v}, but ${alt} is nearer`);
      }
    }
    // 1 + 2^-11 lies halfway between 1 (even) and 1 + 2^-10 (odd): it goes to 1.
    expect(numberToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToF16(65519)).toBe(0x7bff);
    expect(numberToF16(65520)).toBe(0x7c00);
    expect(numberToF16(2 ** -25)).toBe(0x0000);
    expect(numberToF16(3 * 2 ** -26)).toBe(0x0001);
    expect(numberToF16(-1e9)).toBe(0xfc00);
    expect(numberToF16(Number.NaN) & 0x7e00).toBe(0x7e00);
  });
});

describe('bf16', () => {
  it('decodes and rounds to nearest even', () => {
    expect(bf16ToNumber(0x3f80)).toBe(1);
    expect(bf16ToNumber(0xc040)).toBe(-3);
    expect(numberToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToBf16(1 + 2 ** -8 + 2 ** -12)).toBe(0x3f81);
    expect(numberToBf16(Number.NaN)).toBe(0x7fc0);
    expect(numberToBf16(Number.POSITIVE_INFINITY)).toBe(0x7f80);
  });
});
