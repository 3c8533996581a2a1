/**
 * Tensor handles and host data of the backend contract.
 *
 * A backend owns its tensors: callers only ever hold opaque handles carrying a shape and a dtype.
 * Data crosses the host/device boundary only through `upload`, `write` and `download`.
 */

/** Element types a tensor may have. `bf16` and `f16` are 16-bit floats; `i32` holds indices. */
export type DType = 'f32' | 'bf16' | 'f16' | 'i32';

/** Floating-point element types (what activations, weights and the KV cache may use). */
export type FloatDType = Exclude<DType, 'i32'>;

/**
 * Host-side data of a tensor, as `upload`/`write` take it and `download` returns it:
 * `f32` → `Float32Array`; `bf16`/`f16` → `Uint16Array` of raw bit patterns; `i32` → `Int32Array`.
 * (These are exactly the buffers `@dcp/parallel-state`'s CPU communicator moves.)
 */
export type HostData = Float32Array | Uint16Array | Int32Array;

/**
 * An opaque tensor handle. Row-major and contiguous. Backends extend this with their own storage
 * (a typed array on the CPU, a device pointer on CUDA, a `GPUBuffer` on WebGPU); callers must not
 * look further than `shape` and `dtype`.
 */
export interface Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes per element of a dtype. */
export function dtypeBytes(dtype: DType): number {
  return dtype === 'f32' || dtype === 'i32' ? 4 : 2;
}
