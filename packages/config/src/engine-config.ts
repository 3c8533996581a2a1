/** How the DCP merge moves data: all-gather LSE + reduce-scatter (`ag_rs`) or one all-to-all (`a2a`). */
export type DcpCommBackend = 'ag_rs' | 'a2a';

/** Element type of the paged KV cache (fp8 is not supported yet). */
export type KvCacheDtype = 'bf16' | 'fp16' | 'fp32';

/** How weights are obtained: `auto`/`safetensors` read the model folder, `dummy` makes seeded weights. */
export type LoadFormat = 'auto' | 'safetensors' | 'dummy';

/** Compute dtype; `auto` takes the model's `torch_dtype`. */
export type ModelDtype = 'auto' | 'bfloat16' | 'float16' | 'float32';

/** Ranks and how they are grouped. World size is `pp × tp`: DCP reuses the TP ranks. */
export interface ParallelConfig {
  /** `-tp/--tensor-parallel-size`: ranks that split each layer's heads and matrices. Default 1. */
  tp: number;
  /** `-pp/--pipeline-parallel-size`: pipeline stages, each a slice of the layers. Default 1. */
  pp: number;
  /** `-dcp/--decode-context-parallel-size`: ranks of a TP group that split each sequence's KV. Default 1. */
  dcp: number;
  /** `--cp-kv-cache-interleave-size`: consecutive tokens stored on one DCP rank before moving on. Default 1. */
  cpKvCacheInterleaveSize: number;
  /** `--dcp-comm-backend`: how partial attention outputs are merged. Default `ag_rs`. */
  dcpCommBackend: DcpCommBackend;
}

/** The paged KV cache. */
export interface CacheConfig {
  /** `--block-size`: tokens per physical block on each rank. Default 16. */
  blockSize: number;
  /** `--kv-cache-dtype`: element type of the cache. Default `bf16` (`auto` follows `--dtype`). */
  kvCacheDtype: KvCacheDtype;
  /** `--kv-cache-memory-bytes`: cache size per rank in bytes; `null` sizes it from `gpuMemoryUtilization`. */
  kvCacheMemoryBytes: number | null;
  /** `--num-gpu-blocks-override`: exact block count per rank, ignoring the memory budget; `null` = off. */
  numGpuBlocksOverride: number | null;
  /** `--gpu-memory-utilization`: fraction of device memory the engine may use, in (0, 1]. Default 0.9. */
  gpuMemoryUtilization: number;
  /** `--enable-prefix-caching` / `--no-enable-prefix-caching`: reuse cached blocks of shared prefixes. Default true. */
  enablePrefixCaching: boolean;
}

/** Token and sequence budgets of one engine step. */
export interface SchedulerConfig {
  /** `--max-num-batched-tokens`: tokens scheduled per step over all requests. Default 8192. */
  maxNumBatchedTokens: number;
  /** `--max-num-seqs`: requests running at once. Default 256. */
  maxNumSeqs: number;
  /** `--max-model-len`: longest sequence (prompt + output); `null` = the model's `max_position_embeddings`. */
  maxModelLen: number | null;
  /** `--enable-chunked-prefill` / `--no-enable-chunked-prefill`: split long prompts over steps. Default true. */
  enableChunkedPrefill: boolean;
}

/** Where the weights come from and how they are computed. */
export interface LoadConfig {
  /** `--load-format`. Default `auto`. */
  loadFormat: LoadFormat;
  /** `--dtype` (`half` and `float` are accepted as `float16` and `float32`). Default `auto`. */
  dtype: ModelDtype;
  /** `--seed`: sampling seed and the seed of dummy weights. Default 0. */
  seed: number;
}

/** Every engine setting, as plain data (safe to clone and post to workers). */
export interface EngineConfig {
  /** Positional `MODEL` or `--model`: a folder with `config.json` or a preset name; `null` = the subcommand's default. */
  model: string | null;
  parallel: ParallelConfig;
  cache: CacheConfig;
  scheduler: SchedulerConfig;
  load: LoadConfig;
  /** `--attention-backend`: force a backend by name; `null` lets the registry pick. */
  attentionBackend: string | null;
  /**
   * `--attention-backend-config`: options of the backend named by `--attention-backend`, as a JSON
   * object (e.g. webgpu-mla's `{"decodeKernel": "flash"}`); the backend checks the keys. `null` = none.
   */
  attentionBackendConfig: Record<string, unknown> | null;
  /**
   * `--webgpu-devices`: PCI bus IDs of the GPUs `webgpu-mla` ranks use (rank r takes entry
   * r mod n), for hosts with several identically named GPUs; `null` = every rank on the first.
   */
  webgpuDevices: string[] | null;
  /** `--skip-tokenizer-init`: take and return token ids only. Default false. */
  skipTokenizerInit: boolean;
}

/** A partial {@link EngineConfig}; numbers may be given as strings (as they come from a command line). */
export interface EngineConfigInput {
  model?: string | null | undefined;
  parallel?: { [K in keyof ParallelConfig]?: unknown };
  cache?: { [K in keyof CacheConfig]?: unknown };
  scheduler?: { [K in keyof SchedulerConfig]?: unknown };
  load?: { [K in keyof LoadConfig]?: unknown };
  attentionBackend?: string | null | undefined;
  /** An object, or its JSON text as on the command line. */
  attentionBackendConfig?: unknown;
  /** A list, or one comma-separated string as on the command line. */
  webgpuDevices?: unknown;
  skipTokenizerInit?: unknown;
}

/** The defaults of every field (a fresh object each call). */
export function defaultEngineConfig(): EngineConfig {
  return {
    model: null,
    parallel: { tp: 1, pp: 1, dcp: 1, cpKvCacheInterleaveSize: 1, dcpCommBackend: 'ag_rs' },
    cache: {
      blockSize: 16,
      kvCacheDtype: 'bf16',
      kvCacheMemoryBytes: null,
      numGpuBlocksOverride: null,
      gpuMemoryUtilization: 0.9,
      enablePrefixCaching: true,
    },
    scheduler: { maxNumBatchedTokens: 8192, maxNumSeqs: 256, maxModelLen: null, enableChunkedPrefill: true },
    load: { loadFormat: 'auto', dtype: 'auto', seed: 0 },
    attentionBackend: null,
    attentionBackendConfig: null,
    webgpuDevices: null,
    skipTokenizerInit: false,
  };
}

/** Number of ranks: `pp × tp`. DCP never changes it (it splits the KV inside each TP group). */
export function worldSize(parallel: Pick<ParallelConfig, 'tp' | 'pp'>): number {
  return parallel.pp * parallel.tp;
}
