import type { TensorBytes } from './decode.js';
import { DTYPE_BYTES } from './dtypes.js';
import type { TensorInfo } from './header.js';
import { type ByteRun, byteRuns, resolveSlice, type SliceOptions } from './slice.js';

/**
 * Reads exactly `length` bytes at absolute file offset `offset` (or throws). When `into` is given
 * (a view of exactly `length` bytes) the reader may fill it and return it, saving a copy; it may
 * also ignore it and return a buffer of its own that holds the bytes.
 */
export type ReadAt = (offset: number, length: number, into?: Uint8Array) => Promise<Uint8Array>;

/** How `readTensorBytes` turns the runs of a slice into reads. */
export interface ReadPlan {
  /** Merge two runs into one read when at most this many unrequested bytes lie between them. */
  maxGapBytes: number;
  /** Largest span (first byte of the first run to last byte of the last) one merged read covers. */
  maxSpanBytes: number;
  /** Reads in flight at once (at least 1). */
  concurrency: number;
}

/** Groups of runs read with one call each: runs at most `maxGap` bytes apart, spans of at most `maxSpan`. */
export function groupRuns(runs: readonly ByteRun[], maxGap: number, maxSpan: number): ByteRun[][] {
  const groups: ByteRun[][] = [];
  for (const r of runs) {
    const g = groups[groups.length - 1];
    const last = g?.[g.length - 1];
    if (
      g &&
      last &&
      r.fileOffset - (last.fileOffset + last.length) <= maxGap &&
      r.fileOffset + r.length - g[0]!.fileOffset <= maxSpan
    )
      g.push(r);
    else groups.push([r]);
  }
  return groups;
}

/**
 * Raw little-endian bytes of tensor `info`, whole or the slice `opts` asks for, fetched through
 * `readAt`: checks the slice (errors name `file` and the tensor), splits it into contiguous runs,
 * merges nearby runs per `plan`, and keeps at most `plan.concurrency` reads in flight. A group of
 * one run is offered the output bytes themselves as `into`. Shared by the Node file reader
 * (positional reads) and the platform-neutral `ByteSource` reader (HTTP Range requests).
 */
export async function readTensorBytes(
  file: string,
  info: TensorInfo,
  opts: SliceOptions,
  readAt: ReadAt,
  plan: ReadPlan,
): Promise<TensorBytes> {
  const ranges = resolveSlice(file, info, opts);
  const { runs, outShape, outBytes } = byteRuns(info.shape, ranges, DTYPE_BYTES[info.dtype], info.fileOffset);
  const out = new Uint8Array(outBytes);
  const groups = groupRuns(runs, plan.maxGapBytes, plan.maxSpanBytes);
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const g = groups[next++]!;
      const start = g[0]!.fileOffset;
      const last = g[g.length - 1]!;
      const span = last.fileOffset + last.length - start;
      const into = g.length === 1 ? out.subarray(g[0]!.outOffset, g[0]!.outOffset + span) : undefined;
      const got = await readAt(start, span, into);
      if (got === into) continue;
      for (const r of g)
        out.set(got.subarray(r.fileOffset - start, r.fileOffset - start + r.length), r.outOffset);
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, groups.length) }, worker));
  return { name: info.name, dtype: info.dtype, shape: outShape, bytes: out };
}
