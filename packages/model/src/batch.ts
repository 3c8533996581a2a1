import type { Tensor } from '@dcp/backend';
import { localSeqLensAllRanks } from '@dcp/parallel-state';
import { ModelError } from './errors.js';

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
  /** Per prefill request: context rows each DCP rank gathers (the largest local context length). */
  cuCtxPadded: Int32Array;
  /** Per prefill request: prefix sums of the global context lengths. */
  cuCtx: Int32Array;
  ctxTotal: number;
  /** Rows of the all-gathered `[W · Σ padded, latent]` context to keep, request by request. */
  ctxReorg: Int32Array;
  /** Whether `[decodeRows, prefillRows]` is `0..numTokens-1` (no row reordering needed). */
  inOrder: boolean;
  /** For token row r, its row in `[decode outputs; prefill outputs]`. */
  inverseOrder: Int32Array;
  logitRows: Int32Array;
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
export function planBatch(batch: ForwardBatch, dcp: DcpLayout, tokensPerBlock: number): BatchPlan {
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
  const cuCtx = new Int32Array(npr + 1);
  const cuCtxPadded = new Int32Array(npr + 1);
  const ctxLocal = localSeqLensAllRanks(
    prefillReqs.map((r) => c[r]!),
    shard,
  );
  for (let j = 0; j < npr; j++) {
    const r = prefillReqs[j]!;
    cuQ[j + 1] = cuQ[j]! + q[r]!;
    cuCtx[j + 1] = cuCtx[j]! + c[r]!;
    cuCtxPadded[j + 1] = cuCtxPadded[j]! + ctxLocal[j * dcp.size]!; // rank 0 holds the most
  }
  const toks = cuCtxPadded[npr]!;
  const ctxReorg = new Int32Array(cuCtx[npr]!);
  let k = 0;
  for (let j = 0; j < npr; j++) {
    for (let n = 0; n < dcp.size; n++) {
      const len = ctxLocal[j * dcp.size + n]!;
      for (let t = 0; t < len; t++) ctxReorg[k++] = n * toks + cuCtxPadded[j]! + t;
    }
  }
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
    cuCtxPadded,
    cuCtx,
    ctxTotal: cuCtx[npr]!,
    ctxReorg,
    inOrder,
    inverseOrder,
    logitRows,
  };
}
