/** One engine flag: its spelling (vLLM's), the config field it sets and its help text. */
export interface EngineFlag {
  /** Dotted path in {@link EngineConfig}, e.g. `parallel.dcp`. */
  field: string;
  long: `--${string}`;
  /** vLLM's multi-letter short form (`-tp`), rewritten by `normalizeArgv` before parsing. */
  short?: `-${string}`;
  /** Placeholder of the value; absent for a boolean switch. */
  value?: string;
  /** Also accept `--no-<name>` to turn a default-on switch off. */
  negatable?: boolean;
  description: string;
}

/** Every engine flag that `dcp serve`, `generate`, `check-config`, ... share. */
export const ENGINE_FLAGS: readonly EngineFlag[] = [
  {
    field: 'model',
    long: '--model',
    value: 'model',
    description: 'model folder (with config.json) or preset name',
  },
  {
    field: 'parallel.tp',
    long: '--tensor-parallel-size',
    short: '-tp',
    value: 'size',
    description: 'tensor-parallel ranks (default 1)',
  },
  {
    field: 'parallel.pp',
    long: '--pipeline-parallel-size',
    short: '-pp',
    value: 'size',
    description: 'pipeline stages (default 1)',
  },
  {
    field: 'parallel.dcp',
    long: '--decode-context-parallel-size',
    short: '-dcp',
    value: 'size',
    description: 'ranks of a TP group that split the KV cache; must divide tp (default 1)',
  },
  {
    field: 'parallel.cpKvCacheInterleaveSize',
    long: '--cp-kv-cache-interleave-size',
    value: 'tokens',
    description: 'consecutive tokens kept on one DCP rank; divides --block-size (default 1)',
  },
  {
    field: 'parallel.dcpKvCacheInterleaveSize',
    long: '--dcp-kv-cache-interleave-size',
    value: 'tokens',
    description: 'deprecated alias of --cp-kv-cache-interleave-size',
  },
  {
    field: 'parallel.dcpCommBackend',
    long: '--dcp-comm-backend',
    value: 'ag_rs|a2a',
    description: 'DCP merge: all-gather + reduce-scatter or all-to-all (default ag_rs)',
  },
  {
    field: 'cache.blockSize',
    long: '--block-size',
    value: 'tokens',
    description: 'tokens per KV block per rank (default 16)',
  },
  {
    field: 'cache.kvCacheDtype',
    long: '--kv-cache-dtype',
    value: 'dtype',
    description: 'auto|bfloat16|float16|float32 (default auto: follows --dtype)',
  },
  {
    field: 'cache.kvCacheMemoryBytes',
    long: '--kv-cache-memory-bytes',
    value: 'bytes',
    description: 'KV cache bytes per rank, e.g. 8G (default: from --gpu-memory-utilization)',
  },
  {
    field: 'cache.numGpuBlocksOverride',
    long: '--num-gpu-blocks-override',
    value: 'blocks',
    description: 'exact KV blocks per rank (default off)',
  },
  {
    field: 'cache.gpuMemoryUtilization',
    long: '--gpu-memory-utilization',
    value: 'fraction',
    description: 'fraction of device memory to use, in (0, 1] (default 0.9)',
  },
  {
    field: 'cache.enablePrefixCaching',
    long: '--enable-prefix-caching',
    negatable: true,
    description: 'reuse KV blocks of shared prefixes (default on)',
  },
  {
    field: 'scheduler.maxNumBatchedTokens',
    long: '--max-num-batched-tokens',
    value: 'tokens',
    description: 'tokens per engine step (default 8192)',
  },
  {
    field: 'scheduler.maxNumSeqs',
    long: '--max-num-seqs',
    value: 'n',
    description: 'running requests (default 256)',
  },
  {
    field: 'scheduler.maxModelLen',
    long: '--max-model-len',
    value: 'tokens',
    description: "longest sequence, e.g. 32k (default: the model's max_position_embeddings)",
  },
  {
    field: 'scheduler.enableChunkedPrefill',
    long: '--enable-chunked-prefill',
    negatable: true,
    description: 'split long prompts over steps (default on)',
  },
  {
    field: 'load.loadFormat',
    long: '--load-format',
    value: 'auto|safetensors|dummy',
    description: 'where weights come from (default auto)',
  },
  {
    field: 'load.dtype',
    long: '--dtype',
    value: 'dtype',
    description: 'auto|bfloat16|float16|float32 (default auto)',
  },
  {
    field: 'load.seed',
    long: '--seed',
    value: 'n',
    description: 'random seed, also of dummy weights (default 0)',
  },
  {
    field: 'attentionBackend',
    long: '--attention-backend',
    value: 'name',
    description: 'force an attention backend (default: best available)',
  },
  {
    field: 'attentionBackendConfig',
    long: '--attention-backend-config',
    value: 'json',
    description:
      'options of the --attention-backend backend as a JSON object, e.g. \'{"decodeKernel":"flash"}\' for webgpu-mla',
  },
  {
    field: 'webgpuDevices',
    long: '--webgpu-devices',
    value: 'bus,...',
    description:
      "PCI bus IDs of the GPUs webgpu-mla ranks use, rank r on entry r mod n (needs Mesa's Vulkan device-select layer; default: the first GPU)",
  },
  {
    field: 'skipTokenizerInit',
    long: '--skip-tokenizer-init',
    description: 'take and return token ids only (default off)',
  },
];

/** `-tp/--tensor-parallel-size`-style label of a flag, as messages name it. */
export function flagLabel(flag: EngineFlag): string {
  return flag.short ? `${flag.short}/${flag.long}` : flag.long;
}

/** The label of the flag that sets `field` (a dotted config path), or `undefined`. */
export function flagForField(field: string): string | undefined {
  const flag = ENGINE_FLAGS.find((f) => f.field === field);
  return flag ? flagLabel(flag) : undefined;
}
