import type { AttentionBackend, FloatDType, Tensor } from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import type { Communicator } from '@dcp/parallel-state';
import type { BatchPlan, DcpLayout } from './batch.js';
import type { Scope } from './scope.js';

/** Device copies of a step's metadata, shared by every layer. */
export interface StepTensors<T extends Tensor> {
  /** `[T]` i32 `0..T-1`: rows of `cosSin` (the table holds this step's positions). */
  ropeRows: T;
  /** `[T, rope]` f32: cos then sin of each row's position. */
  cosSin: T;
  slotMapping: T;
  /** `[T]` i32 zeros (broadcasts a bias row with `gatherRows`). */
  zeros: T;
  decodeRows: T | null;
  decodeBlockTable: T | null;
  decodeSeqLens: T | null;
  prefillRows: T | null;
  cuQ: T | null;
  prefillBlockTable: T | null;
  /** Device copies of each context chunk's metadata (see `ContextChunk`). */
  ctxChunks: ChunkTensors<T>[];
  inverseOrder: T | null;
}

/** One context chunk on the device: gather metadata, kept rows, and their sizes. */
export interface ChunkTensors<T extends Tensor> {
  seqStarts: T;
  cuPadded: T;
  cuKept: T;
  reorg: T | null;
  /** Rows of this rank's local gather. */
  padded: number;
  /** Context rows kept after the all-gather (the chunk's keys). */
  kept: number;
}

/** Everything a layer needs besides its weights. */
export interface LayerContext<T extends Tensor, B> {
  backend: AttentionBackend<T, B>;
  config: ModelConfig;
  dtype: FloatDType;
  plan: BatchPlan;
  step: StepTensors<T>;
  scope: Scope<T, B>;
  tp: Communicator<B> | null;
  dcp: Communicator<B> | null;
  dcpLayout: DcpLayout;
  dcpCombine: 'ag_rs' | 'a2a';
  softmaxScale: number;
  /** Local attention heads. */
  heads: number;
}

/** `x += bias` row by row (`bias` `[1, d]`, `x` `[n, d]`). */
export function addRowBias<T extends Tensor, B>(ctx: LayerContext<T, B>, x: T, bias: T): void {
  const b = ctx.backend;
  const rows = x.shape[0]!;
  const tmp = ctx.scope.alloc(x.shape, x.dtype);
  b.gatherRows(bias, b.sliceRows(ctx.step.zeros, 0, rows), tmp);
  b.add(x, tmp, x);
}

/** Sums `t` over the TP group (no-op for one rank); returns the reduced tensor. */
export async function tpAllReduce<T extends Tensor, B>(ctx: LayerContext<T, B>, t: T): Promise<T> {
  if (!ctx.tp || ctx.tp.size === 1) return t;
  const b = ctx.backend;
  const buf = await ctx.tp.allReduce(b.commBuffer(t));
  return ctx.scope.adopt(b.fromCommBuffer(buf, t.shape, t.dtype));
}
