import { decodeTensor, type TensorBytes } from '../safetensors/decode.js';
import { SafetensorsError } from '../safetensors/errors.js';
import {
  checkHeaderLength,
  DEFAULT_MAX_HEADER_BYTES,
  parseHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from '../safetensors/header.js';
import { type ReadPlan, readTensorBytes } from '../safetensors/read-bytes.js';
import type { SliceOptions } from '../safetensors/slice.js';
import type { ByteSource } from './byte-source.js';

/** Options of `openSafetensorsSource`. */
export interface SourceReadOptions {
  /** Largest JSON header accepted, in bytes (default 100 MiB). */
  maxHeaderBytes?: number;
  /**
   * Fetch two pieces of a slice in one read when fewer than this many unrequested bytes lie
   * between them (default 1 MiB: over HTTP, a request costs more than a few wasted bytes).
   */
  maxGapBytes?: number;
  /** Reads in flight at once for one slice (default 4). */
  concurrency?: number;
}

/** Tensors of one safetensors file behind a `ByteSource`, read whole or sliced. */
export interface SafetensorsSource {
  readonly label: string;
  readonly header: SafetensorsHeader;
  /** Every tensor name, in header order. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** Where a tensor lives; throws `SafetensorsError` when there is no such tensor. */
  info(name: string): TensorInfo;
  /** Raw little-endian bytes of a tensor or slice. */
  readBytes(name: string, opts?: SliceOptions): Promise<TensorBytes>;
  /** f32 values of a float tensor or slice (f16/bf16/f64 converted); throws for integer dtypes. */
  readF32(name: string, opts?: SliceOptions): Promise<Float32Array>;
  /** Bytes and reads so far, header included. */
  readonly stats: { bytesRead: number; reads: number };
}

/** Largest span one merged fetch covers. */
const MAX_SPAN_BYTES = 32 * 1024 * 1024;

/**
 * Opens a safetensors file behind any `ByteSource` (HTTP ranges in a browser, bytes in memory):
 * reads and validates its header exactly as the Node reader does, then reads only the bytes of
 * the tensors and slices asked for. Platform-neutral.
 */
export async function openSafetensorsSource(
  source: ByteSource,
  o: SourceReadOptions = {},
): Promise<SafetensorsSource> {
  const { label, size } = source;
  const stats = { bytesRead: 0, reads: 0 };
  const read = async (offset: number, length: number) => {
    const b = await source.read(offset, length);
    stats.reads++;
    stats.bytesRead += b.byteLength;
    return b;
  };
  const prefix = size >= 8 ? await read(0, 8) : new Uint8Array(0);
  const n = checkHeaderLength(label, prefix, size, o.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  const header = parseHeader(label, await read(8, n), size);
  const plan: ReadPlan = {
    maxGapBytes: Math.max(0, o.maxGapBytes ?? 1024 * 1024),
    maxSpanBytes: MAX_SPAN_BYTES,
    concurrency: Math.max(1, o.concurrency ?? 4),
  };
  const info = (name: string): TensorInfo => {
    const t = header.tensors.get(name);
    if (!t) throw new SafetensorsError(label, 'no such tensor', name);
    return t;
  };
  const readBytes = async (name: string, so: SliceOptions = {}): Promise<TensorBytes> =>
    readTensorBytes(label, info(name), so, read, plan);
  return {
    label,
    header,
    names: [...header.tensors.keys()],
    stats,
    has: (name) => header.tensors.has(name),
    info,
    readBytes,
    async readF32(name, so = {}) {
      const t = decodeTensor(label, await readBytes(name, so), false);
      if (!(t.data instanceof Float32Array)) {
        throw new SafetensorsError(label, `dtype ${t.dtype} is not a float dtype`, name);
      }
      return t.data;
    },
  };
}
