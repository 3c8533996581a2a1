import { type ContextChunk, planContextChunks as planBackendChunks, type Tensor } from '@dcp/backend';
import { localSeqLensAllRanks } from '@dcp/parallel-state';
import { ModelError } from './errors.js';

export type { ContextChunk } from '@dcp/backend';

/**
 * One forward step of one rank, as plain data (what a model runner builds from the scheduler's
 * output). Rows are grouped by request, in request order; request `i` owns `queryLens[i]`
 * consecutive rows whose positions are `computedLens[i], computedLens[i] + 1, ...`.
 */
export interface ForwardBatch<T extends Tensor = Tensor> {
  /** `[numTokens]` token ids; required on the first pipeline stage. */
  tokenIds?: ArrayLike<number>;
  /** `[numTokens, hidden]` hidden states from the previous stage; required on the other stages. */
  hidden?: T;
  /** `[numTokens]` global positions. */
  positions: ArrayLike<number>;
  /** Rows (new tokens) of each request in this step. */
  queryLens: readonly number[];
  /** Tokens of each request already in the KV cache before this step (context, prefix-cache hits). */
  computedLens: readonly number[];
  /** Block ids of each request (one per virtual block of `blockSize · dcp` positions). */
  blockTables: readonly ArrayLike<number>[];
  /** `[numTokens]` this rank's cache slot of each row, −1 where another DCP rank stores the token. */
  slotMapping: ArrayLike<number>;
  /** Rows to compute logits for on the last stage; default: the last row of every request. */
  logitRows?: ArrayLike<number>;
}

/** DCP layout of this rank. */
export interface DcpLayout {
  size: number;
  rank: number;
  interleave: number;
}

/** Host-side metadata derived once per step and shared by every layer. */
export interface BatchPlan {
  numTokens: number;
  positions: Int32Array;
  slotMapping: Int32Array;
  maxBlocks: number;
  /** Decode rows: requests with one new token and a non-empty context (absorbed DCP path). */
  decodeRows: Int32Array;
  decodeBlockTable: Int32Array;
  decodeLocalSeqLens: Int32Array;
  /** Prefill rows (every other request), in request order, and their requests. */
  prefillRows: Int32Array;
  numPrefillReqs: number;
  cuQ: Int32Array;
  prefillBlockTable: Int32Array;
  /** The cached context of the prefill requests, in chunks of bounded size (spec §5.2). */
  ctxChunks: ContextChunk[];
  /** Whether `[decodeRows, prefillRows]` is `0..numTokens-1` (no row reordering needed). */
  inOrder: boolean;
  /** For token row r, its row in `[decode outputs; prefill outputs]`. */
  inverseOrder: Int32Array;
  logitRows: Int32Array;
}

/** Default bound on the cached-context tokens per request attended in one chunk. */
export const DEFAULT_CONTEXT_CHUNK = 8192;

/**
 * Splits the cached context of each prefill request (`contexts[j]` tokens) into chunks of at most
 * `chunkTokens` global tokens, rounded up to a multiple of `interleave · dcp` (`@dcp/backend`'s
 * `planContextChunks`, spec §5.2): chunk i covers local entries `[i·c, (i+1)·c)` of every rank.
 */
export function planContextChunks(
  contexts: readonly number[],
  dcp: DcpLayout,
  chunkTokens: number,
): ContextChunk[] {
  if (!Number.isInteger(chunkTokens) || chunkTokens < 1) {
    throw new ModelError('contextChunkTokens', `must be an integer >= 1, got ${chunkTokens}`);
  }
  const unit = dcp.interleave * dcp.size;
  return planBackendChunks(contexts, {
    dcp: dcp.size,
    interleave: dcp.interleave,
    chunkTokens: Math.ceil(chunkTokens / unit) * unit,
  });
}

function intArray(field: string, a: ArrayLike<number>, min: number): Int32Array {
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isInteger(v) || v < min)
      throw new ModelError(field, `[${i}] must be an integer >= ${min}, got ${v}`);
    out[i] = v;
  }
  return out;
}

/** Validates a batch and derives its per-step metadata for this rank. */
export function planBatch(
  batch: ForwardBatch,
  dcp: DcpLayout,
  tokensPerBlock: number,
  contextChunkTokens = DEFAULT_CONTEXT_CHUNK,
): BatchPlan {
  const nReq = batch.queryLens.length;
  if (batch.computedLens.length !== nReq || batch.blockTables.length !== nReq) {
    throw new ModelError(
      'batch',
      `queryLens (${nReq}), computedLens (${batch.computedLens.length}) and blockTables (${batch.blockTables.length}) must have one entry per request`,
    );
  }
  const q = intArray('queryLens', batch.queryLens, 1);
  const c = intArray('computedLens', batch.computedLens, 0);
  const numTokens = q.reduce((a, b) => a + b, 0);
  const positions = intArray('positions', batch.positions, 0);
  const slotMapping = intArray('slotMapping', batch.slotMapping, -1);
  if (positions.length !== numTokens) {
    throw new ModelError(
      'positions',
      `has ${positions.length} entries for ${numTokens} rows (sum of queryLens)`,
    );
  }
  if (slotMapping.length !== numTokens) {
    throw new ModelError('slotMapping', `has ${slotMapping.length} entries for ${numTokens} rows`);
  }
  let maxBlocks = 1;
  const tables = batch.blockTables.map((t, i) => {
    const need = Math.ceil((c[i]! + q[i]!) / tokensPerBlock);
    if (t.length < need) {
      throw new ModelError(
        `blockTables[${i}]`,
        `has ${t.length} blocks, needs ${need} for ${c[i]! + q[i]!} tokens`,
      );
    }
    maxBlocks = Math.max(maxBlocks, t.length);
    return intArray(`blockTables[${i}]`, t, 0);
  });
  const decodeRows: number[] = [];
  const decodeReqs: number[] = [];
  const prefillRows: number[] = [];
  const prefillReqs: number[] = [];
  let row = 0;
  for (let i = 0; i < nReq; i++) {
    for (let k = 0; k < q[i]!; k++) {
      if (positions[row + k] !== c[i]! + k) {
        throw new ModelError(
          `positions[${row + k}]`,
          `is ${positions[row + k]}, expected ${c[i]! + k} (request ${i})`,
        );
      }
    }
    if (q[i] === 1 && c[i]! > 0) {
      decodeRows.push(row);
      decodeReqs.push(i);
    } else {
      for (let k = 0; k < q[i]!; k++) prefillRows.push(row + k);
      prefillReqs.push(i);
    }
    row += q[i]!;
  }
  const fillTable = (reqs: number[]) => {
    const out = new Int32Array(Math.max(1, reqs.length) * maxBlocks);
    reqs.forEach((r, j) => {
      out.set(tables[r]!, j * maxBlocks);
    });
    return out;
  };
  const shard = { dcp: dcp.size, interleave: dcp.interleave };
  const decodeLocal = localSeqLensAllRanks(
    decodeReqs.map((r) => c[r]! + 1),
    shard,
  );
  const decodeLocalSeqLens = new Int32Array(decodeReqs.length);
  for (let j = 0; j < decodeReqs.length; j++) decodeLocalSeqLens[j] = decodeLocal[j * dcp.size + dcp.rank]!;

  const npr = prefillReqs.length;
  const cuQ = new Int32Array(npr + 1);
  for (let j = 0; j < npr; j++) cuQ[j + 1] = cuQ[j]! + q[prefillReqs[j]!]!;
  const ctxChunks = planContextChunks(
    prefillReqs.map((r) => c[r]!),
    dcp,
    contextChunkTokens,
  );
  const order = [...decodeRows, ...prefillRows];
  const inverseOrder = new Int32Array(numTokens);
  let inOrder = true;
  order.forEach((r, i) => {
    inverseOrder[r] = i;
    if (r !== i) inOrder = false;
  });
  let logitRows: Int32Array;
  if (batch.logitRows) {
    logitRows = intArray('logitRows', batch.logitRows, 0);
    for (const r of logitRows) {
      if (r >= numTokens)
        throw new ModelError('logitRows', `row ${r} is past the ${numTokens} rows of the batch`);
    }
  } else {
    logitRows = new Int32Array(nReq);
    let end = 0;
    for (let i = 0; i < nReq; i++) logitRows[i] = (end += q[i]!) - 1;
  }
  return {
    numTokens,
    positions,
    slotMapping,
    maxBlocks,
    decodeRows: Int32Array.from(decodeRows),
    decodeBlockTable: fillTable(decodeReqs),
    decodeLocalSeqLens,
    prefillRows: Int32Array.from(prefillRows),
    numPrefillReqs: npr,
    cuQ,
    prefillBlockTable: fillTable(prefillReqs),
    ctxChunks,
    inOrder,
    inverseOrder,
    logitRows,
  };
}
