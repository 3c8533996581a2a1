/**
 * Tensors larger than one storage binding (128 MiB on lavapipe and SwiftShader): the plan that
 * splits a tensor's words over several buffers ("segments") of whole dim-0 rows — for the KV
 * cache `[numBlocks, blockSize, width]`, whole blocks — and the allocation of those buffers.
 * Kernels bind every segment and pick one per word (`bindings.ts`).
 */
import type { DType } from '@dcp/backend';
import { dtypeBytes, numel } from '@dcp/backend';
import { type Gpu, takeBuffer } from './gpu.js';
import { byteSize, type Owner, type Storage, type StorageLayout } from './tensor.js';

/**
 * Storage buffers a kernel that takes a segmented tensor binds besides it, at most (MLA decode:
 * q, block table, lengths, row map, partial outputs and LSEs). `alloc` refuses a tensor whose
 * segments would not fit next to them.
 */
export const OTHER_BINDINGS = 6;

/** Options that change the layout (backend options; see `WebgpuMlaOptions`). */
export interface StorageOptions {
  /** Split tensors into buffers of at most this many bytes (default and ceiling: the binding limit). */
  maxSegmentBytes?: number;
  /** `'auto'` (default): f16 outputs native where the device has `shader-f16`; `'packed'`: always u32. */
  f16Storage?: 'auto' | 'packed';
  /**
   * Host-side launch caches (default true): pipelines by structural key, several dispatches per
   * compute pass, cached bind groups. `false` keeps the per-op path (WGSL text as the key, one
   * pass and one bind group per dispatch): a baseline for benchmarks, same results.
   */
  hostCache?: boolean;
}

/** The layout of a device under `opts` (validated; errors name the option). */
export function storageLayout(gpu: Gpu, opts: StorageOptions = {}): StorageLayout {
  const limit = gpu.maxBinding;
  const seg = opts.maxSegmentBytes;
  if (seg !== undefined && !(Number.isInteger(seg) && seg >= 4)) {
    throw new RangeError(`maxSegmentBytes: must be an integer of at least 4 bytes, got ${seg}`);
  }
  const f16 = opts.f16Storage ?? 'auto';
  if (f16 !== 'auto' && f16 !== 'packed') {
    throw new TypeError(`f16Storage: must be 'auto' or 'packed', got ${String(f16)}`);
  }
  if (opts.hostCache !== undefined && typeof opts.hostCache !== 'boolean') {
    throw new TypeError(`hostCache: must be a boolean, got ${String(opts.hostCache)}`);
  }
  return {
    hostCache: opts.hostCache ?? true,
    segmentBytes: Math.floor(Math.min(limit, seg ?? limit) / 4) * 4,
    maxBindings: gpu.device.limits.maxStorageBuffersPerShaderStage,
    nativeF16: f16 === 'auto' && gpu.device.features.has('shader-f16'),
  };
}

/** How a tensor's words are split: `segments` buffers of `segWords` words (the last may be shorter). */
export interface SegmentPlan {
  words: number;
  segWords: number;
  segments: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Splits `[rows, ...]` of `dtype` into segments of at most `limitBytes`, each a whole number of
 * dim-0 rows and of words. Throws (naming `field`) when one such unit of rows is larger.
 */
export function planSegments(
  shape: readonly number[],
  dtype: DType,
  limitBytes: number,
  field: string,
): SegmentPlan {
  const words = byteSize(shape, dtype) / 4;
  const limitWords = Math.floor(limitBytes / 4);
  if (words <= limitWords) return { words, segWords: Math.max(1, words), segments: 1 };
  const rows = shape.length === 0 ? 1 : shape[0]!;
  const rowBytes = (numel(shape) / rows) * dtypeBytes(dtype);
  // The fewest rows that end on a word boundary.
  const unitRows = 4 / gcd(rowBytes, 4);
  const unitWords = (unitRows * rowBytes) / 4;
  const segWords = Math.floor(limitWords / unitWords) * unitWords;
  if (segWords === 0) {
    throw new RangeError(
      `${field}: one row of [${shape.join(', ')}] ${dtype} takes ${unitWords * 4} bytes (${unitRows} rows to a whole word), more than one storage binding of ${limitBytes} bytes`,
    );
  }
  return { words, segWords, segments: Math.ceil(words / segWords) };
}

/** MiB with one decimal, for messages. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * Zero-filled buffers for a tensor of `shape`/`dtype` (not yet tracked by the owner). `reserve`
 * other storage bindings must fit next to its segments in one kernel; the error names the limit.
 */
export function newStorage(
  owner: Owner,
  shape: readonly number[],
  dtype: DType,
  field: string,
  reserve = OTHER_BINDINGS,
): Storage {
  const { layout, gpu } = owner;
  const plan = planSegments(shape, dtype, layout.segmentBytes, field);
  if (plan.segments > 1 && plan.segments + reserve > layout.maxBindings) {
    throw new RangeError(
      `${field}: [${shape.join(', ')}] ${dtype} needs ${mib(plan.words * 4)}: ${plan.segments} buffers of at most ${mib(layout.segmentBytes)} (maxStorageBufferBindingSize), and a kernel binds ${reserve} more storage buffers next to them, more than this device's maxStorageBuffersPerShaderStage (${layout.maxBindings}); use fewer KV-cache blocks per rank (e.g. --kv-cache-memory-bytes)`,
    );
  }
  const buffers: GPUBuffer[] = [];
  for (let s = 0; s < plan.segments; s++) {
    const words = Math.min(plan.segWords, plan.words - s * plan.segWords);
    buffers.push(takeBuffer(gpu, words * 4));
  }
  return { buffers, segWords: plan.segWords, owner, disposed: false };
}

/** Whole-buffer layout copy of `src` (same segments), with its words `[start, end)` copied in. */
export function copyStorage(
  owner: Owner,
  src: Storage,
  start: number,
  end: number,
  enc: GPUCommandEncoder,
): Storage {
  const buffers = src.buffers.map((b) => takeBuffer(owner.gpu, b.size));
  wordRanges(src, start, end, (s, from, to) => {
    enc.copyBufferToBuffer(src.buffers[s]!, from * 4, buffers[s]!, from * 4, (to - from) * 4);
  });
  return { buffers, segWords: src.segWords, owner, disposed: false };
}

/**
 * Calls `each(segment, firstWord, endWord)` (words local to the segment) for every piece of the
 * word range `[start, end)` of `s`.
 */
export function wordRanges(
  s: Storage,
  start: number,
  end: number,
  each: (segment: number, from: number, to: number, done: number) => void,
): void {
  let w = start;
  while (w < end) {
    const seg = Math.floor(w / s.segWords);
    const base = seg * s.segWords;
    const to = Math.min(end, base + s.segWords);
    each(seg, w - base, to - base, w - start);
    w = to;
  }
}
