/**
 * Static description of a backend (what it can serve, and why not) and the instance it creates.
 */
import type { BackendOps } from './ops.js';
import type { DType, FloatDType, Tensor } from './tensor.js';

/** A supported block size: an exact value or any multiple of a number. */
export type BlockSizeSpec = number | { multipleOf: number };

/** What a backend declares it can do. Selection turns every mismatch into a readable reason. */
export interface BackendCapabilities {
  /** Activation/weight dtypes it computes with. */
  dtypes: readonly FloatDType[];
  /** KV-cache dtypes it stores. */
  kvCacheDtypes: readonly FloatDType[];
  /** Supported kernel block sizes (tokens per physical block). */
  blockSizes: readonly BlockSizeSpec[];
  /** Supported MLA latent widths `kvLoraRank + ropeDim` (576 for DeepSeek-V2/V3), or `'any'`. */
  latentWidths: readonly number[] | 'any';
  /** Whether `mlaDecode` returns a usable LSE. Required to serve DCP > 1. */
  returnsDecodeLse: boolean;
  /** Base of the LSE it returns: `'e'` (natural) or `'2'`; `lseCombine` converts. */
  decodeLseBase: 'e' | '2';
  /** Whether decode accepts several query tokens per request (`DecodeMeta.tokenToRow`). */
  multiTokenDecode: boolean;
  /** Supported `cp_kv_cache_interleave_size` values, or `'any'`. */
  interleaveSizes: readonly number[] | 'any';
  /** Whether it needs a GPU to exist. */
  needsGpu: boolean;
}

/** The configuration a backend is asked to serve (one rank's view of the engine config). */
export interface BackendConfig {
  /** Activation dtype. */
  dtype: FloatDType;
  /** KV-cache dtype. */
  kvCacheDtype: FloatDType;
  /** Tokens per physical block on one rank. */
  blockSize: number;
  /** `kv_lora_rank` (512 for DeepSeek-V2/V3). */
  kvLoraRank: number;
  /** `qk_rope_head_dim` (64 for DeepSeek-V2/V3). */
  ropeDim: number;
  /** Attention heads on this rank (`num_attention_heads / tp`). */
  numHeads: number;
  /** Decode-context-parallel size W (1 = off). */
  dcp: number;
  /** `cp_kv_cache_interleave_size` I. */
  interleave: number;
  /** Whether the engine will run several decode tokens per request (speculative decoding). */
  multiTokenDecode?: boolean;
  /** Whether a GPU is present: `false` rules out GPU backends; undefined lets their factory find out. */
  gpuAvailable?: boolean;
}

/** Options handed to a backend factory. */
export interface BackendCreateOptions {
  /** The configuration it was selected for. */
  config: BackendConfig;
  /** Device index for multi-GPU hosts (the rank's local device). */
  deviceIndex?: number;
}

/**
 * A backend instance for one rank: the ops plus identity. `T` is its tensor handle, `B` the
 * buffer its communicator moves.
 */
export interface AttentionBackend<T extends Tensor = Tensor, B = unknown> extends BackendOps<T, B> {
  /** The descriptor name it was created from. */
  readonly name: string;
  /** Capabilities (the descriptor's). */
  readonly capabilities: BackendCapabilities;
  /** Frees everything the instance holds. */
  destroy(): void;
}

/**
 * What a backend package registers: static capabilities, extra reasons, and an async factory
 * that may fail (then the backend is skipped and the reason kept).
 */
export interface BackendDescriptor<T extends Tensor = Tensor, B = unknown> {
  /** Unique name (`--attention-backend NAME`). */
  readonly name: string;
  /** Higher wins when several are valid. CPU reference: 0; GPU backends: higher. */
  readonly priority: number;
  /** What it supports; generic checks derive reasons from it. */
  readonly capabilities: BackendCapabilities;
  /**
   * Reasons it cannot serve `config` beyond what `capabilities` says (empty = usable). The
   * registry adds the capability-derived reasons itself (see `capabilityReasons`).
   */
  validateConfiguration?(config: BackendConfig): string[];
  /** Creates an instance for one rank; may reject (no device, missing native addon, ...). */
  create(options: BackendCreateOptions): AttentionBackend<T, B> | Promise<AttentionBackend<T, B>>;
}

/** Re-exported for convenience in descriptor code. */
export type { DType, FloatDType };
