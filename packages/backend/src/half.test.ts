import { describe, expect, it } from 'vitest';
import { bf16ToNumber, f16ToNumber, f32ToBf16, numberToBf16, numberToF16 } from './index.js';

describe('bf16', () => {
  it('round-trips values that fit and rounds to nearest even', () => {
    for (const v of [0, 1, -2.5, 3.140625, 65536, -1e-3])
      expect(bf16ToNumber(numberToBf16(v))).toBeCloseTo(v, 2);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
    expect(bf16ToNumber(numberToBf16(1 + 2 ** -8))).toBe(1);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
    expect(bf16ToNumber(numberToBf16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    expect(Number.isNaN(bf16ToNumber(numberToBf16(Number.NaN)))).toBe(true);
    expect(bf16ToNumber(numberToBf16(Number.NEGATIVE_INFINITY))).toBe(Number.NEGATIVE_INFINITY);
  });
  it('array conversion agrees with the scalar one', () => {
    const src = Float32Array.from([1.7, -0.3, 1e30, Number.NaN, 0]);
    const bits = f32ToBf16(src);
    for (const [i, v] of src.entries()) expect(bits[i]).toBe(numberToBf16(v));
  });
});

describe('f16', () => {
  it('encodes normals, subnormals, overflow and ties like IEEE half', () => {
    expect(numberToF16(1)).toBe(0x3c00);
    expect(numberToF16(-2)).toBe(0xc000);
    expect(numberToF16(65504)).toBe(0x7bff);
    expect(numberToF16(70000)).toBe(0x7c00);
    expect(numberToF16(2 ** -24)).toBe(0x0001);
    expect(numberToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16ToNumber(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(Number.isNaN(f16ToNumber(numberToF16(Number.NaN)))).toBe(true);
  });
});
