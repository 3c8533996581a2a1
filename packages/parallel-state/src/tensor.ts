import type { HostArray, ReduceOp } from './communicator.js';
import { CommunicatorError } from './errors.js';
import { decodeHalf, type HalfFormat, numberToBf16, numberToF16 } from './half.js';

/** Element types a host communicator moves; `bf16` and `f16` are bit patterns in a Uint16Array. */
export type HostDType = 'f32' | HalfFormat | 'i32';

/**
 * The dtype of a host buffer (a Uint16Array holds `half`, bf16 unless told otherwise); throws for
 * anything that is not Float32Array, Uint16Array or Int32Array.
 */
export function hostDType(buffer: unknown, field = 'input', half: HalfFormat = 'bf16'): HostDType {
  if (buffer instanceof Float32Array) return 'f32';
  if (buffer instanceof Uint16Array) return half;
  if (buffer instanceof Int32Array) return 'i32';
  throw new CommunicatorError(`${field}: must be a Float32Array, Uint16Array (bf16) or Int32Array`);
}

/** A new zeroed buffer of the same type as `like` with `length` elements. */
export function allocLike(like: HostArray, length: number): HostArray {
  if (like instanceof Float32Array) return new Float32Array(length);
  if (like instanceof Uint16Array) return new Uint16Array(length);
  return new Int32Array(length);
}

/** A row-major tensor viewed as `[outer, d, inner]` around dimension `dim`. */
export interface DimSplit {
  /** The dimension, normalised to `[0, rank)`. */
  dim: number;
  outer: number;
  d: number;
  inner: number;
}

/** Checks `shape` against `length` and `dim` (negative counts from the end) and splits it. */
export function splitAtDim(length: number, shape: readonly number[], dim: number): DimSplit {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new CommunicatorError('shape: must be a non-empty array of dimension sizes');
  }
  let total = 1;
  shape.forEach((s, k) => {
    if (!Number.isInteger(s) || s < 0) {
      throw new CommunicatorError(`shape[${k}]: must be an integer >= 0, got ${String(s)}`);
    }
    total *= s;
  });
  if (total !== length) {
    throw new CommunicatorError(
      `shape: [${shape.join(', ')}] holds ${total} elements but the buffer has ${length}`,
    );
  }
  const n = shape.length;
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new CommunicatorError(`dim: must be an integer in [${-n}, ${n}), got ${String(dim)}`);
  }
  const dd = dim < 0 ? dim + n : dim;
  let outer = 1;
  let inner = 1;
  for (let k = 0; k < dd; k++) outer *= shape[k]!;
  for (let k = dd + 1; k < n; k++) inner *= shape[k]!;
  return { dim: dd, outer, d: shape[dd]!, inner };
}

/**
 * Calls `fn(q, x0, n, s)` for each piece of the flat range `[start, start + count)` cut at
 * multiples of `rowLen`: the piece is elements `x0 .. x0+n` of row q (flat `q*rowLen + x0`), and
 * sits at offset `s` of the range.
 */
export function forEachRow(
  start: number,
  count: number,
  rowLen: number,
  fn: (q: number, x0: number, n: number, s: number) => void,
): void {
  if (rowLen <= 0) return;
  const end = start + count;
  let e = start;
  while (e < end) {
    const q = Math.floor(e / rowLen);
    const x0 = e - q * rowLen;
    const n = Math.min(rowLen - x0, end - e);
    fn(q, x0, n, e - start);
    e += n;
  }
}

/**
 * `acc[at+k] = op(acc[at+k], src[from+k])` for k < n, in float64; 16-bit values are decoded as
 * `half` first.
 */
export function accumulate(
  acc: Float64Array,
  at: number,
  src: HostArray,
  from: number,
  n: number,
  op: ReduceOp,
  half: HalfFormat = 'bf16',
): void {
  if (src instanceof Uint16Array) {
    accumulate(acc, at, decodeHalf(src.subarray(from, from + n), half), 0, n, op);
  } else if (op === 'sum') {
    for (let k = 0; k < n; k++) acc[at + k]! += src[from + k]!;
  } else {
    for (let k = 0; k < n; k++) {
      const v = src[from + k]!;
      const a = acc[at + k]!;
      // NaN wins, as in Math.max.
      if (v > a || Number.isNaN(v)) acc[at + k] = v;
    }
  }
}

/** A float64 accumulator initialised for `op` (0 for sum, −∞ for max). */
export function newAccumulator(length: number, op: ReduceOp): Float64Array {
  const acc = new Float64Array(length);
  if (op === 'max') acc.fill(Number.NEGATIVE_INFINITY);
  return acc;
}

/**
 * Rounds a float64 accumulator into a buffer of `like`'s type (16-bit as `half`; int32 sums wrap
 * like NCCL's).
 */
export function finishAccumulator(acc: Float64Array, like: HostArray, half: HalfFormat = 'bf16'): HostArray {
  const out = allocLike(like, acc.length);
  if (out instanceof Uint16Array) {
    const enc = half === 'f16' ? numberToF16 : numberToBf16;
    for (let k = 0; k < acc.length; k++) out[k] = enc(acc[k]!);
  } else if (out instanceof Int32Array) {
    for (let k = 0; k < acc.length; k++) out[k] = acc[k]! | 0;
  } else {
    out.set(acc);
  }
  return out;
}

/** Checks a half-precision format option. */
export function checkHalf(half: unknown, field = 'halfFormat'): HalfFormat {
  if (half !== 'bf16' && half !== 'f16') {
    throw new CommunicatorError(`${field}: must be 'bf16' or 'f16', got ${String(half)}`);
  }
  return half;
}

/** Checks a reduce op name. */
export function checkOp(op: unknown): ReduceOp {
  if (op !== 'sum' && op !== 'max') {
    throw new CommunicatorError(`op: must be 'sum' or 'max', got ${String(op)}`);
  }
  return op;
}
