/** Conversions between numbers and 16-bit float bit patterns (bf16 and IEEE f16). */

/** How a Uint16Array's bits are read in reductions. */
export type HalfFormat = 'bf16' | 'f16';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The float value of a bf16 bit pattern. */
export function bf16ToNumber(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** Rounds a number to bf16 (via float32, round-to-nearest-even); NaN becomes a quiet NaN. */
export function numberToBf16(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  scratchF32[0] = x;
  const u = scratchU32[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float value of an IEEE binary16 bit pattern. */
export function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Rounds a number to IEEE binary16 (via float32, round-to-nearest-even, overflow to ±∞,
 * subnormals kept); NaN becomes a quiet NaN.
 */
export function numberToF16(x: number): number {
  scratchF32[0] = x;
  const u = scratchU32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: the 24-bit significand shifted down to units of 2^-24.
    const full = mant | 0x800000;
    const shift = 14 - e;
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry may round up into the exponent (or ∞)
  return sign | h;
}

/** Decodes 16-bit patterns of `half` into float32 values. */
export function decodeHalf(src: Uint16Array, half: HalfFormat): Float32Array {
  if (half === 'bf16') {
    const bits = new Uint32Array(src.length);
    for (let k = 0; k < src.length; k++) bits[k] = src[k]! << 16;
    return new Float32Array(bits.buffer);
  }
  return Float32Array.from(src, f16ToNumber);
}
