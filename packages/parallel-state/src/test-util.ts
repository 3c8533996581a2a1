/** Helpers for this package's tests only (not built, not exported). */

export { mulberry32 as rng } from '@dcp/testkit';

export type TestDType = 'f32' | 'bf16' | 'f16' | 'i32';
export type Buf = Float32Array | Uint16Array | Int32Array;
/** Buffers the references read: host buffers, or float64 values already decoded. */
export type Values = Buf | Float64Array;

/** bf16 bits → value, by putting the 16 bits on top of a float32 (independent of the package). */
export function bf16Value(bits: number): number {
  const u = new Uint32Array([bits << 16]);
  return new Float32Array(u.buffer)[0]!;
}

/** IEEE binary16 bits → value, by the textbook formula (for tests). */
export function f16Value(bits: number): number {
  const s = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  return e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
}

/** The values of a buffer of `dtype` as float64 (16-bit patterns decoded as `dtype`). */
export function toNumbers(b: Values, dtype: TestDType): Float64Array {
  return Float64Array.from(b, (v) => (dtype === 'f16' ? f16Value(v) : dtype === 'bf16' ? bf16Value(v) : v));
}

/** Random tensor of `n` elements: floats in (-4, 4), bf16 from truncated float32, ints in ±1000. */
export function randomBuf(dtype: TestDType, n: number, next: () => number): Buf {
  if (dtype === 'i32') return Int32Array.from({ length: n }, () => Math.floor(next() * 2001) - 1000);
  if (dtype === 'f16') {
    // Sign, exponent 10..17 (values in [2^-5, 8)), random mantissa.
    return Uint16Array.from(
      { length: n },
      () =>
        ((next() < 0.5 ? 1 : 0) << 15) | ((10 + Math.floor(next() * 8)) << 10) | Math.floor(next() * 1024),
    );
  }
  const f = Float32Array.from({ length: n }, () => (next() - 0.5) * 8);
  if (dtype === 'f32') return f;
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (x) => x >>> 16);
}

/** Element k of a buffer as a float64 number. */
export function num(b: Values, k: number): number {
  return b instanceof Uint16Array ? bf16Value(b[k]!) : b[k]!;
}

/** Row-major strides of `shape`. */
function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let k = shape.length - 2; k >= 0; k--) s[k] = s[k + 1]! * shape[k + 1]!;
  return s;
}

/** Multi-index of flat index `f`. */
function unravel(f: number, shape: readonly number[]): number[] {
  const idx: number[] = [];
  for (let k = shape.length - 1; k >= 0; k--) {
    idx.unshift(f % shape[k]!);
    f = Math.floor(f / shape[k]!);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  const st = strides(shape);
  return idx.reduce((acc, v, k) => acc + v * st[k]!, 0);
}

function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reference all-gather: output index along `dim` j comes from member floor(j/d), index j mod d. */
export function refAllGather(inputs: Values[], shape: number[], dim: number): number[] {
  const d = shape[dim]!;
  const outShape = shape.map((s, k) => (k === dim ? s * inputs.length : s));
  return Array.from({ length: prod(outShape) }, (_, f) => {
    const idx = unravel(f, outShape);
    const m = Math.floor(idx[dim]! / d);
    idx[dim] = idx[dim]! % d;
    return num(inputs[m]!, ravel(idx, shape));
  });
}

/** Reference element-wise reduction in float64 (sum or max), one value per element. */
export function refReduce(inputs: Values[], op: 'sum' | 'max'): number[] {
  return Array.from({ length: inputs[0]!.length }, (_, k) => {
    const vals = inputs.map((b) => num(b, k));
    return op === 'sum' ? vals.reduce((a, b) => a + b, 0) : Math.max(...vals);
  });
}

/** Reference reduce-scatter: member `rank`'s slice along `dim` of the reduction. */
export function refReduceScatter(
  inputs: Values[],
  shape: number[],
  dim: number,
  op: 'sum' | 'max',
  rank: number,
) {
  const full = refReduce(inputs, op);
  const c = shape[dim]! / inputs.length;
  const outShape = shape.map((s, k) => (k === dim ? c : s));
  return Array.from({ length: prod(outShape) }, (_, f) => {
    const idx = unravel(f, outShape);
    idx[dim] = idx[dim]! + rank * c;
    return full[ravel(idx, shape)]!;
  });
}

/** Σ|x| over members per element: the scale for a reduction's rounding tolerance. */
export function refAbsSum(inputs: Values[]): number[] {
  return Array.from({ length: inputs[0]!.length }, (_, k) =>
    inputs.reduce((a, b) => a + Math.abs(num(b, k)), 0),
  );
}

/** Reference all-to-all: output block m along `dim` is member m's block `rank`. */
export function refAllToAll(inputs: Values[], shape: number[], dim: number, rank: number): number[] {
  const c = shape[dim]! / inputs.length;
  return Array.from({ length: prod(shape) }, (_, f) => {
    const idx = unravel(f, shape);
    const m = Math.floor(idx[dim]! / c);
    idx[dim] = rank * c + (idx[dim]! % c);
    return num(inputs[m]!, ravel(idx, shape));
  });
}

/** Picks the scale-aware tolerance of a reduction result in `dtype`. */
export function tolerance(dtype: TestDType, absSum: number): number {
  if (dtype === 'i32') return 0;
  const ulp = dtype === 'bf16' ? 2 ** -8 : dtype === 'f16' ? 2 ** -11 : 2 ** -23;
  return ulp * absSum * 2 + 1e-30;
}
