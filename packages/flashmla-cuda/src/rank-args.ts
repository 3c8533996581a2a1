/** Argument objects of `CudaRank`'s raw ops (device refs plus sizes). */
import type { DeviceRef } from './buffer.js';

/** Raw arguments of `CudaRank.mlaDecode` (bf16 q/cache/out, i32 metadata, f32 lse). */
export interface MlaDecodeArgs {
  /** `[tokens, heads, 576]` bf16 latent queries. */
  q: DeviceRef;
  /** `[numBlocks, blockSize, 576]` bf16 paged latent cache. */
  cache: DeviceRef;
  /** `[numRows, maxBlocksPerSeq]` i32 block ids. */
  blockTable: DeviceRef;
  /** `[tokens]` i32 local lengths (0 → LSE −inf, output 0). */
  seqLens: DeviceRef;
  /** `[tokens]` i32 block-table row per token; omitted → row = token. */
  tokenToRow?: DeviceRef;
  /** `[tokens, heads, 512]` bf16 output. */
  out: DeviceRef;
  /** `[tokens, heads]` f32 natural-log LSE. */
  lse: DeviceRef;
  tokens: number;
  heads: number;
  numBlocks: number;
  blockSize: number;
  maxBlocksPerSeq: number;
  /** Block-table rows; default `tokens`. */
  numRows?: number;
  /** Softmax scale multiplying q·k. */
  scale: number;
  /** Longest local length in the batch (sizes the KV split); any length stays correct. */
  maxSeqLen: number;
  /** Force a split count (1 = no combine pass); default: chosen to fill the GPU. */
  splits?: number;
  /** Workspace for split partials; default: the rank's own, grown on demand. */
  workspace?: DeviceRef;
}

/** Raw arguments of `CudaRank.kvWrite`. */
export interface KvWriteArgs {
  /** `[tokens, ≥512]` bf16 rows, `kvCStride` elements apart (default 512). */
  kvC: DeviceRef;
  /** `[tokens, ≥64]` bf16 rotated k_pe rows, `kPeStride` elements apart (default 64). */
  kPe: DeviceRef;
  /** `[tokens]` i32 slots; −1 skips the token. */
  slots: DeviceRef;
  /** `[numSlots, 576]` bf16 cache. */
  cache: DeviceRef;
  tokens: number;
  numSlots: number;
  kvCStride?: number;
  kPeStride?: number;
}

/** Raw arguments of `CudaRank.contextGather` (vLLM's `cp_gather_cache`). */
export interface ContextGatherArgs {
  cache: DeviceRef;
  /** `[totalTokens, 576]` bf16 destination. */
  dst: DeviceRef;
  blockTable: DeviceRef;
  /** `[batch + 1]` i32. */
  cuSeqLens: DeviceRef;
  /** `[batch]` i32, need not be block-aligned; omitted → 0. */
  seqStarts?: DeviceRef;
  batch: number;
  totalTokens: number;
  numBlocks: number;
  blockSize: number;
  maxBlocksPerSeq: number;
}

/** Raw arguments of `CudaRank.lseCorrect` (ag_rs correction, in place on `out`). */
export interface LseCorrectArgs {
  out: DeviceRef;
  lses: DeviceRef;
  globalLse?: DeviceRef;
  world: number;
  rank: number;
  batch: number;
  heads: number;
  dim: number;
  base2?: boolean;
}

/** Raw arguments of `CudaRank.lsePack`. */
export interface LsePackArgs {
  out: DeviceRef;
  lse: DeviceRef;
  packed: DeviceRef;
  rows: number;
  dim: number;
}

/** Raw arguments of `CudaRank.a2aCombine` over `[batch, world, heads, dim + 2]` packed rows. */
export interface A2aCombineArgs {
  packed: DeviceRef;
  out: DeviceRef;
  globalLse?: DeviceRef;
  world: number;
  batch: number;
  heads: number;
  dim: number;
  base2?: boolean;
}

/** Generic kernels reachable through `CudaRank.invoke`. */
export type GenericOp =
  | 'genericDecode'
  | 'genericKvWrite'
  | 'genericGather'
  | 'fillPattern'
  | 'copyColumns'
  | 'gatherRows'
  | 'lsePackF32'
  | 'a2aCombineF32'
  | 'lseCorrect';
