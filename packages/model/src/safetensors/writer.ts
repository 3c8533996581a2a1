import { writeFile } from 'node:fs/promises';
import { DTYPE_BYTES, type SafetensorsDtype } from './dtypes.js';

/** One tensor to write: its dtype, shape and raw little-endian bytes (or f32 values for F32). */
export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Raw bytes, or the values of an F32 tensor. */
  data: Uint8Array | Float32Array | Uint16Array | Int32Array | BigInt64Array;
}

/**
 * The bytes of a safetensors file holding `tensors` in insertion order, packed back to back,
 * header padded with spaces to a multiple of 8. Throws when a tensor's byte count does not match
 * its dtype and shape.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (bytes.byteLength !== want) {
      throw new Error(`${name}: ${bytes.byteLength} bytes for ${t.dtype}[${t.shape}], expected ${want}`);
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + want] };
    parts.push(bytes);
    offset += want;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes `encodeSafetensors(tensors, metadata)` to `path`. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
