import { decodeTensor, type TensorBytes } from '../safetensors/decode.js';
import { DTYPE_BYTES } from '../safetensors/dtypes.js';
import { SafetensorsError } from '../safetensors/errors.js';
import {
  checkHeaderLength,
  DEFAULT_MAX_HEADER_BYTES,
  parseHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from '../safetensors/header.js';
import { type ByteRun, byteRuns, resolveSlice, type SliceOptions } from '../safetensors/slice.js';
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

const MAX_SPAN_BYTES = 32 * 1024 * 1024;

/** Runs fetched together: neighbours at most `maxGap` bytes apart, spans of at most 32 MiB. */
function groupRuns(runs: readonly ByteRun[], maxGap: number): ByteRun[][] {
  const groups: ByteRun[][] = [];
  for (const r of runs) {
    const g = groups[groups.length - 1];
    const last = g?.[g.length - 1];
    if (
      g &&
      last &&
      r.fileOffset - (last.fileOffset + last.length) <= maxGap &&
      r.fileOffset + r.length - g[0]!.fileOffset <= MAX_SPAN_BYTES
    )
      g.push(r);
    else groups.push([r]);
  }
  return groups;
}

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
  const maxGap = Math.max(0, o.maxGapBytes ?? 1024 * 1024);
  const concurrency = Math.max(1, o.concurrency ?? 4);
  const info = (name: string): TensorInfo => {
    const t = header.tensors.get(name);
    if (!t) throw new SafetensorsError(label, 'no such tensor', name);
    return t;
  };
  const readBytes = async (name: string, so: SliceOptions = {}): Promise<TensorBytes> => {
    const t = info(name);
    const ranges = resolveSlice(label, t, so);
    const { runs, outShape, outBytes } = byteRuns(t.shape, ranges, DTYPE_BYTES[t.dtype], t.fileOffset);
    const out = new Uint8Array(outBytes);
    const groups = groupRuns(runs, maxGap);
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const g = groups[next++]!;
        const start = g[0]!.fileOffset;
        const last = g[g.length - 1]!;
        const span = await read(start, last.fileOffset + last.length - start);
        for (const r of g)
          out.set(span.subarray(r.fileOffset - start, r.fileOffset - start + r.length), r.outOffset);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
    return { name, dtype: t.dtype, shape: outShape, bytes: out };
  };
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
