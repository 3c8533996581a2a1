/**
 * CPU tensors: a typed array per tensor (f32 values, bf16/f16 bit patterns, i32), plus helpers
 * the kernels use to read any float dtype as f32 and to round results into 16-bit outputs.
 */
import {
  bf16ToF32,
  type DType,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  type HostData,
  numel,
  type Tensor,
} from '@dcp/backend';

/** Shared liveness flag of a storage and every view of it. */
interface Storage {
  disposed: boolean;
}

/** A CPU tensor handle. `data` is exactly `numel(shape)` long (a subarray for row views). */
export interface CpuTensor extends Tensor {
  readonly data: HostData;
  /** @internal */
  readonly storage: Storage;
  /** @internal whether this handle is a view (reshape/sliceRows) of another tensor. */
  readonly isView: boolean;
}

/** The typed array a dtype is stored in, as a constructor name. */
export function hostKind(dtype: DType): 'Float32Array' | 'Uint16Array' | 'Int32Array' {
  if (dtype === 'f32') return 'Float32Array';
  if (dtype === 'i32') return 'Int32Array';
  return 'Uint16Array';
}

/** Validates a dtype name. */
export function checkDType(dtype: unknown, field: string): DType {
  if (dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'i32') {
    throw new TypeError(`${field}: dtype must be f32, bf16, f16 or i32, got ${String(dtype)}`);
  }
  return dtype;
}

/** Validates a shape (non-negative integers). */
export function checkShape(shape: readonly number[], field: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${field}: shape must be an array of integers`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${field}: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
  }
  return [...shape];
}

/** Wraps `data` as a tensor (no copy). */
export function wrap(
  data: HostData,
  shape: readonly number[],
  dtype: DType,
  storage: Storage = { disposed: false },
  isView = false,
): CpuTensor {
  const s = checkShape(shape, 'tensor');
  if (data.constructor.name !== hostKind(dtype)) {
    throw new TypeError(`tensor: dtype ${dtype} needs a ${hostKind(dtype)}, got ${data.constructor.name}`);
  }
  if (data.length !== numel(s)) {
    throw new RangeError(`tensor: shape [${s.join(', ')}] needs ${numel(s)} elements, got ${data.length}`);
  }
  return { shape: s, dtype, data, storage, isView };
}

/** A zero-filled tensor. */
export function zeros(shape: readonly number[], dtype: DType): CpuTensor {
  const n = numel(checkShape(shape, 'alloc'));
  const kind = hostKind(checkDType(dtype, 'alloc'));
  const data =
    kind === 'Float32Array'
      ? new Float32Array(n)
      : kind === 'Int32Array'
        ? new Int32Array(n)
        : new Uint16Array(n);
  return wrap(data, shape, dtype);
}

/** Checks `t` is a live CPU tensor and returns it. */
export function arg(t: Tensor | null | undefined, field: string): CpuTensor {
  const c = t as CpuTensor | null | undefined;
  if (!c?.storage || !c.data) throw new TypeError(`${field}: not a cpu-mla tensor`);
  if (c.storage.disposed) throw new Error(`${field}: tensor was disposed`);
  return c;
}

/** Checks `t` is a live i32 tensor and returns its data. */
export function i32(t: Tensor | null | undefined, field: string): Int32Array {
  const c = arg(t, field);
  if (c.dtype !== 'i32') throw new TypeError(`${field}: must be i32, got ${c.dtype}`);
  return c.data as Int32Array;
}

/** The values of a float tensor as f32 (the data itself for f32, a converted copy otherwise). */
export function f32(t: Tensor | null | undefined, field: string): Float32Array {
  const c = arg(t, field);
  if (c.dtype === 'f32') return c.data as Float32Array;
  if (c.dtype === 'bf16') return bf16ToF32(c.data as Uint16Array);
  if (c.dtype === 'f16') return f16ToF32(c.data as Uint16Array);
  throw new TypeError(`${field}: must be a float tensor, got ${c.dtype}`);
}

/** A buffer to compute `out` into: its own data for f32, a scratch array for 16-bit outputs. */
export function outF32(t: Tensor, field: string): Float32Array {
  const c = arg(t, field);
  if (c.dtype === 'f32') return c.data as Float32Array;
  if (c.dtype === 'i32') throw new TypeError(`${field}: must be a float tensor, got i32`);
  return new Float32Array(c.data.length);
}

/** Stores a buffer from `outF32` into `out` (rounding for 16-bit dtypes; a no-op for f32). */
export function commit(t: Tensor, buf: Float32Array): void {
  const c = t as CpuTensor;
  if (c.data === buf) return;
  if (c.dtype === 'bf16') f32ToBf16(buf, c.data as Uint16Array);
  else if (c.dtype === 'f16') f32ToF16(buf, c.data as Uint16Array);
}

/** Converts `n` values of a float storage starting at `from` into `dst` (f32). */
export function readRow(
  data: HostData,
  dtype: DType,
  from: number,
  n: number,
  dst: Float32Array,
): Float32Array {
  if (dtype === 'f32') {
    dst.set((data as Float32Array).subarray(from, from + n));
  } else if (dtype === 'bf16') {
    bf16ToF32((data as Uint16Array).subarray(from, from + n), dst);
  } else {
    f16ToF32((data as Uint16Array).subarray(from, from + n), dst);
  }
  return dst;
}

/** Throws unless `t` has exactly `n` elements. */
export function expectNumel(t: CpuTensor, n: number, field: string, what: string): void {
  if (t.data.length !== n) {
    throw new RangeError(
      `${field}: expected ${what} (${n} elements), got shape [${t.shape.join(', ')}] (${t.data.length})`,
    );
  }
}

/** The last dimension of `t` (1 for a scalar). */
export function lastDim(t: CpuTensor): number {
  return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
}
