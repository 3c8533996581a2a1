/**
 * Tensors on GPUBuffers. Every dtype is stored as 32-bit words: f32 and i32 one per word,
 * bf16/f16 two per word (element 2k in the low half). Kernels read 16-bit data as packed `u32`
 * and unpack it; f16 outputs are `array<f16>` where the device has `shader-f16` (see
 * `bindings.ts`). A tensor larger than one storage binding is split over several buffers
 * ("segments") of whole dim-0 rows (see `segments.ts`). Views (reshape, sliceRows) share the
 * storage and carry an element offset.
 */
import type { DType, Tensor } from '@dcp/backend';
import { dtypeBytes, numel } from '@dcp/backend';
import type { Gpu } from './gpu.js';

/** How one backend instance lays tensors out on its device (from the device and the options). */
export interface StorageLayout {
  /** Bytes of one buffer at most: `maxStorageBufferBindingSize`, or less when forced (tests). */
  readonly segmentBytes: number;
  /** Storage buffers one kernel may bind: the device's `maxStorageBuffersPerShaderStage`. */
  readonly maxBindings: number;
  /** f16 outputs are declared `array<f16>` and written element by element (`shader-f16`). */
  readonly nativeF16: boolean;
  /** Launch through the host caches (`StorageOptions.hostCache`). */
  readonly hostCache: boolean;
}

/** The allocations of one backend instance (destroyed together by `destroy()`). */
export interface Owner {
  readonly gpu: Gpu;
  readonly live: Set<Storage>;
  readonly layout: StorageLayout;
}

/**
 * The buffers of one tensor and their bookkeeping. Word `w` of the flat data lives in
 * `buffers[floor(w / segWords)]` at word `w % segWords`; one buffer when the tensor fits a binding.
 */
export interface Storage {
  readonly buffers: readonly GPUBuffer[];
  /** Words per buffer (all but the last hold exactly this many; whole dim-0 rows each). */
  readonly segWords: number;
  readonly owner: Owner;
  disposed: boolean;
}

/** The backend's tensor handle. */
export interface WebGpuTensor extends Tensor {
  readonly storage: Storage;
  /** Offset of element 0 in the buffer, in elements of `dtype`. */
  readonly offset: number;
  /** Whether this handle is a view (dispose the tensor it came from instead). */
  readonly isView: boolean;
}

const TAG = Symbol.for('dcp.webgpu-mla.tensor');

/** Whether `t` is a tensor of this backend. */
export function isWebGpuTensor(t: unknown): t is WebGpuTensor {
  return typeof t === 'object' && t !== null && (t as Record<symbol, unknown>)[TAG] === true;
}

/** Builds a handle. */
export function makeTensor(
  storage: Storage,
  shape: readonly number[],
  dtype: DType,
  offset = 0,
  isView = false,
): WebGpuTensor {
  const t = { shape: Object.freeze([...shape]), dtype, storage, offset, isView };
  Object.defineProperty(t, TAG, { value: true });
  return t;
}

/** Checks a tensor argument (ours, not disposed) and returns it typed. */
export function arg(t: Tensor, field: string): WebGpuTensor {
  if (!isWebGpuTensor(t)) throw new TypeError(`${field}: not a webgpu-mla tensor`);
  if (t.storage.disposed) throw new Error(`${field}: tensor used after dispose`);
  return t;
}

/** Validates a shape (non-negative integers). */
export function checkShape(shape: readonly number[], field: string): readonly number[] {
  if (!Array.isArray(shape) || shape.some((d) => !(Number.isInteger(d) && d >= 0))) {
    throw new RangeError(`${field}: shape must be non-negative integers, got [${String(shape)}]`);
  }
  return shape;
}

/** Validates a dtype name. */
export function checkDType(dtype: DType, field: string): void {
  if (dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'i32') {
    throw new TypeError(`${field}: unknown dtype ${String(dtype)} (f32, bf16, f16 or i32)`);
  }
}

/** Bytes a tensor of `shape`/`dtype` needs, rounded up to whole words. */
export function byteSize(shape: readonly number[], dtype: DType): number {
  return Math.ceil((numel(shape) * dtypeBytes(dtype)) / 4) * 4;
}

/** Element count. */
export function count(t: Tensor): number {
  return numel(t.shape);
}

/** Last dimension (1 for a scalar). */
export function lastDim(t: Tensor): number {
  return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
}

/** Buffers holding `t` (1 unless it is larger than one storage binding). */
export function segments(t: WebGpuTensor): number {
  return t.storage.buffers.length;
}

/** Whether a dtype is stored two per word. */
export function is16(dtype: DType): boolean {
  return dtype === 'bf16' || dtype === 'f16';
}

/** The host array type of a dtype. */
export function hostKind(dtype: DType): string {
  return dtype === 'f32' ? 'Float32Array' : dtype === 'i32' ? 'Int32Array' : 'Uint16Array';
}
