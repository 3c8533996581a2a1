/**
 * Host-side helpers of the conformance suite: encode float64 values into a dtype's host data
 * (returning the values as stored, so references use exactly what the backend sees), decode
 * downloads, and compare against float64 references with dtype tolerances.
 */
import { bf16ToNumber, f16ToNumber, numberToBf16, numberToF16 } from '../half.js';
import type { DType, FloatDType, HostData } from '../tensor.js';

/** Tolerance of a comparison by the dtype results are stored in (see `assertClose`). */
export const TOLERANCE: Readonly<Record<FloatDType, number>> = { f32: 1e-4, bf16: 2e-2, f16: 1e-2 };

/** Encodes values for `dtype`; returns the host data and the values it actually holds. */
export function encode(values: ArrayLike<number>, dtype: DType): { data: HostData; stored: Float64Array } {
  const n = values.length;
  const stored = new Float64Array(n);
  if (dtype === 'f32') {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = values[i]!;
      stored[i] = data[i]!;
    }
    return { data, stored };
  }
  if (dtype === 'i32') {
    const data = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = values[i]!;
      stored[i] = data[i]!;
    }
    return { data, stored };
  }
  const data = new Uint16Array(n);
  const enc = dtype === 'bf16' ? numberToBf16 : numberToF16;
  const dec = dtype === 'bf16' ? bf16ToNumber : f16ToNumber;
  for (let i = 0; i < n; i++) {
    data[i] = enc(values[i]!);
    stored[i] = dec(data[i]!);
  }
  return { data, stored };
}

/** Decodes downloaded host data of `dtype` into float64. */
export function decode(data: HostData, dtype: DType): Float64Array {
  const out = new Float64Array(data.length);
  if (dtype === 'bf16') for (let i = 0; i < data.length; i++) out[i] = bf16ToNumber(data[i]!);
  else if (dtype === 'f16') for (let i = 0; i < data.length; i++) out[i] = f16ToNumber(data[i]!);
  else for (let i = 0; i < data.length; i++) out[i] = data[i]!;
  return out;
}

/** A failed comparison; the message says where and by how much. */
export class ConformanceMismatch extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceMismatch';
  }
}

/**
 * Compares `actual` with the float64 `expected`. Element `i` passes when
 * `|a_i − e_i| ≤ tol · (|e_i| + rms(e))` (relative to the element, with the RMS of the expected
 * values as a floor so values near zero are judged against the tensor's scale). Infinite
 * expected values must match exactly; a NaN in `actual` always fails. Returns the largest
 * normalised error.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label: string,
): number {
  if (actual.length !== expected.length) {
    throw new ConformanceMismatch(`${label}: ${actual.length} values, expected ${expected.length}`);
  }
  let ss = 0;
  let finite = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (Number.isFinite(e)) {
      ss += e * e;
      finite++;
    }
  }
  const rms = finite > 0 ? Math.sqrt(ss / finite) : 0;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a)) throw new ConformanceMismatch(`${label}: NaN at index ${i} (expected ${e})`);
    if (!Number.isFinite(e)) {
      if (a !== e) throw new ConformanceMismatch(`${label}: index ${i} is ${a}, expected ${e}`);
      continue;
    }
    const denom = Math.abs(e) + rms;
    const err = denom === 0 ? Math.abs(a - e) : Math.abs(a - e) / denom;
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  if (worst > tol) {
    throw new ConformanceMismatch(
      `${label}: error ${worst.toExponential(2)} > tolerance ${tol} at index ${worstAt} (got ${actual[worstAt]}, expected ${expected[worstAt]})`,
    );
  }
  return worst;
}

/** Exact equality (integers, raw copies). */
export function assertEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  if (actual.length !== expected.length) {
    throw new ConformanceMismatch(`${label}: ${actual.length} values, expected ${expected.length}`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && actual[i] !== expected[i]) {
      throw new ConformanceMismatch(`${label}: index ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
