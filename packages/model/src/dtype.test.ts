/** Host dtype conversions against IEEE bit patterns worked out by hand. */
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './dtype.js';

describe('dtype conversions', () => {
  it('f16 decodes normals, subnormals, infinities and NaN', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555]);
    const f = f16ToF32(bits);
    expect([...f.slice(0, 6)]).toEqual([1, -2, 2 ** -24, 65504, Infinity, -Infinity]);
    expect(Number.isNaN(f[6])).toBe(true);
    expect(f[7]).toBeCloseTo(0.333251953125, 12);
  });

  it('f32 → f16 → f32 round-trips exactly representable values and rounds to nearest even', () => {
    const vals = Float32Array.from([
      0,
      1,
      -2,
      65504,
      2 ** -24,
      0.5,
      1 + 2 ** -10,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      1e6,
    ]);
    const back = f16ToF32(f32ToF16(vals));
    expect([...back]).toEqual([0, 1, -2, 65504, 2 ** -24, 0.5, 1 + 2 ** -10, 1, 1 + 2 ** -9, Infinity]);
  });

  it('bf16 keeps the top 16 bits with round-to-nearest-even', () => {
    const vals = Float32Array.from([1, -3.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Number.NaN]);
    const b = f32ToBf16(vals);
    expect([...b.slice(0, 4)]).toEqual([0x3f80, 0xc060, 0x3f80, 0x3f82]);
    expect(Number.isNaN(bf16ToF32(b)[4])).toBe(true);
    expect([...bf16ToF32(Uint16Array.from([0x3f80, 0xc060]))]).toEqual([1, -3.5]);
  });
});
