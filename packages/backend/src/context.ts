/**
 * Chunked-prefill context under DCP (spec §5.2): which local cache entries each rank gathers per
 * chunk, and the gather itself (local `gatherCache`, all-gather over the DCP group, regroup by
 * request). Within a request the gathered keys come out rank-major, not in position order; that
 * is fine because context attention is non-causal and `k_pe` already carries its rotation.
 */
import { type Communicator, localSeqLen } from '@dcp/parallel-state';
import type { AttentionBackend } from './descriptor.js';
import type { Tensor } from './tensor.js';

/** One context chunk's plan, identical on every rank of the DCP group. */
export interface ContextChunk {
  /** `[numReqs]`: first local cache entry each request gathers. */
  localStarts: Int32Array;
  /** `[numReqs + 1]`: prefix sums of the padded local lengths (the `gatherCache` layout). */
  localCuSeqLens: Int32Array;
  /** Rows each rank contributes to the all-gather (`localCuSeqLens[numReqs]`). */
  toks: number;
  /** Rows of the all-gathered `[W·toks, width]` buffer, in request then rank order, padding dropped. */
  reorgIndices: Int32Array;
  /** `[numReqs + 1]`: prefix sums of this chunk's real context tokens per request (the key side of the attention). */
  cuSeqLensK: Int32Array;
}

/** Options of `planContextChunks`. */
export interface ContextPlanOptions {
  /** DCP size W. */
  dcp: number;
  /** `cp_kv_cache_interleave_size` I. */
  interleave: number;
  /** Global context tokens per chunk M; a positive multiple of `I·W`. */
  chunkTokens: number;
}

/**
 * Splits the cached context of each request (`contextLens`, global tokens) into chunks of
 * `chunkTokens` global tokens; chunk `c` covers positions `[c·M, (c+1)·M)` of every request.
 */
export function planContextChunks(contextLens: ArrayLike<number>, o: ContextPlanOptions): ContextChunk[] {
  const { dcp: w, interleave: il, chunkTokens: m } = o;
  if (!(Number.isInteger(w) && w >= 1))
    throw new RangeError(`planContextChunks dcp: must be an integer >= 1, got ${w}`);
  if (!(Number.isInteger(il) && il >= 1))
    throw new RangeError(`planContextChunks interleave: must be an integer >= 1, got ${il}`);
  if (!(Number.isInteger(m) && m > 0 && m % (il * w) === 0)) {
    throw new RangeError(
      `planContextChunks chunkTokens: ${m} must be a positive multiple of interleave·dcp = ${il * w}`,
    );
  }
  const n = contextLens.length;
  let maxCtx = 0;
  for (let j = 0; j < n; j++) {
    const c = contextLens[j]!;
    if (!(Number.isInteger(c) && c >= 0))
      throw new RangeError(`planContextChunks contextLens[${j}]: must be an integer >= 0, got ${c}`);
    maxCtx = Math.max(maxCtx, c);
  }
  const c = m / w;
  const chunks: ContextChunk[] = [];
  for (let i = 0; i * m < maxCtx; i++) {
    const localStarts = new Int32Array(n).fill(i * c);
    const localCuSeqLens = new Int32Array(n + 1);
    const padded = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const paddedLocal = Math.ceil(contextLens[j]! / (il * w)) * il;
      padded[j] = Math.max(0, Math.min(paddedLocal, i * c + c) - i * c);
      localCuSeqLens[j + 1] = localCuSeqLens[j]! + padded[j]!;
    }
    const toks = localCuSeqLens[n]!;
    const idx: number[] = [];
    const cuSeqLensK = new Int32Array(n + 1);
    for (let j = 0; j < n; j++) {
      const src = localCuSeqLens[j]!;
      let got = 0;
      for (let r = 0; r < w; r++) {
        const len = Math.min(
          Math.max(0, localSeqLen(contextLens[j]!, { dcp: w, dcpRank: r, interleave: il }) - i * c),
          padded[j]!,
        );
        for (let k = 0; k < len; k++) idx.push(r * toks + src + k);
        got += len;
      }
      cuSeqLensK[j + 1] = cuSeqLensK[j]! + got;
    }
    chunks.push({ localStarts, localCuSeqLens, toks, reorgIndices: Int32Array.from(idx), cuSeqLensK });
  }
  return chunks;
}

/**
 * Gathers one context chunk on this rank: `gatherCache` of its local entries, all-gather over
 * `comm` (the DCP group; every rank calls this with the same chunk), then regroup. Returns a
 * fresh `[cuSeqLensK[numReqs], width]` tensor of cache rows in `cache`'s dtype.
 */
export async function gatherContextChunk<T extends Tensor, B>(
  backend: AttentionBackend<T, B>,
  comm: Communicator<B>,
  cache: T,
  blockTable: T,
  chunk: ContextChunk,
): Promise<T> {
  if (cache.shape.length !== 3)
    throw new RangeError('gatherContextChunk cache: must be [numBlocks, blockSize, width]');
  const width = cache.shape[2]!;
  const n = chunk.localStarts.length;
  const cu = backend.upload(chunk.localCuSeqLens, [n + 1], 'i32');
  const starts = backend.upload(chunk.localStarts, [n], 'i32');
  const local = backend.alloc([chunk.toks, width], cache.dtype);
  backend.gatherCache(cache, { blockTable, cuSeqLens: cu, seqStarts: starts }, local);
  backend.dispose(cu);
  backend.dispose(starts);
  let all = local;
  if (comm.size > 1) {
    const buf = await comm.allGather(backend.commBuffer(local), [chunk.toks, width], 0);
    all = backend.fromCommBuffer(buf, [comm.size * chunk.toks, width], cache.dtype);
    backend.dispose(local);
  }
  const total = chunk.cuSeqLensK[n]!;
  const idx = backend.upload(chunk.reorgIndices, [total], 'i32');
  const rows = backend.alloc([total, width], cache.dtype);
  backend.gatherRows(all, idx, rows);
  backend.dispose(idx);
  backend.dispose(all);
  return rows;
}
