/**
 * The CUDA backend's tensor handle: a shape and dtype over a range of a `DeviceBuffer`.
 */
import { type DType, dtypeBytes, numel, type Tensor } from '@dcp/backend';
import type { DeviceBuffer, DeviceView } from './buffer.js';

/** A contiguous row-major tensor in device memory. */
export interface CudaTensor extends Tensor {
  readonly buffer: DeviceBuffer;
  readonly byteOffset: number;
  /** Whether disposing this handle frees the buffer (false for views). */
  readonly owner: boolean;
  /**
   * Largest value of an i32 tensor, when it was last written from the host (used to size
   * kernels, never for correctness); undefined when unknown.
   */
  hostMax?: number;
}

/** Bytes a tensor spans. */
export function tensorBytes(t: Tensor): number {
  return numel(t.shape) * dtypeBytes(t.dtype);
}

/** The device view where `t` starts. */
export function viewOf(t: CudaTensor): DeviceView {
  return { buffer: t.buffer, byteOffset: t.byteOffset };
}

/** Checks a shape: non-empty list of non-negative integers. */
export function checkShape(shape: readonly number[], field: string): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`${field}: shape must be non-negative integers, got [${String(shape)}]`);
  }
}

/** Throws a clear error unless `t` has `dtype` and (where given) each fixed dimension. */
export function expect(
  t: CudaTensor,
  field: string,
  dtype: DType,
  dims: readonly (number | null)[] | null,
): void {
  if (!t || !Array.isArray(t.shape) || t.buffer === undefined)
    throw new TypeError(`${field}: not a CUDA tensor`);
  if (t.dtype !== dtype) throw new TypeError(`${field}: dtype must be ${dtype}, got ${t.dtype}`);
  if (t.buffer.disposed) throw new Error(`${field}: tensor was disposed`);
  if (dims === null) return;
  const ok = t.shape.length === dims.length && dims.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) {
    const want = dims.map((d) => (d === null ? '*' : String(d))).join(', ');
    throw new RangeError(`${field}: shape must be [${want}], got [${t.shape.join(', ')}]`);
  }
}

/** Latent row width of DeepSeek-V2/V3 (512 kv_c + 64 rotated k_pe): the tuned kernels' width. */
export const LATENT = 576;
/** kv_lora_rank of DeepSeek-V2/V3 (value width of the decode). */
export const KV_LORA = 512;
/** qk_rope_head_dim of DeepSeek-V2/V3. */
export const ROPE = 64;

/** Throws unless `t` holds f32 or bf16 data. */
export function floatOnly(t: CudaTensor, field: string): void {
  if (t.dtype !== 'f32' && t.dtype !== 'bf16')
    throw new TypeError(`${field}: dtype must be f32 or bf16, got ${t.dtype}`);
}
