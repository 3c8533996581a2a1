import { z } from 'zod';
import {
  defaultEngineConfig,
  type EngineConfig,
  type EngineConfigInput,
  type KvCacheDtype,
  type ModelDtype,
} from './engine-config.js';
import { ConfigError } from './errors.js';
import { flagForField } from './flags.js';
import type { ModelConfig } from './model-config.js';
import { parseHumanNumber } from './numbers.js';
import { validateEngineConfig } from './validate.js';
import { zodToConfigError } from './zod-error.js';

const toNumber = (v: unknown) => (typeof v === 'string' ? parseHumanNumber(v) : v);
const toBoolean = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);

function int(min: number) {
  const message = `must be an integer >= ${min}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message });
}
const number = <T extends z.ZodType>(schema: T) => z.preprocess(toNumber, schema);
const bool = z.preprocess(toBoolean, z.boolean({ error: 'must be true or false' }));
const oneOf = <T extends string>(values: readonly [T, ...T[]], shown: readonly string[] = values) =>
  z.enum(values, { error: `must be one of ${shown.join(', ')}` });
const DTYPE_NAMES = ['auto', 'bfloat16', 'float16', 'float32'] as const;
/** `domain:bus:device.function` (domain optional), as nvidia-smi and `lspci -D` print it. */
const PCI_BUS_ID = /^(?:[0-9a-f]{1,8}:)?[0-9a-f]{1,2}:[0-9a-f]{1,2}\.[0-7]$/i;
const PCI_LIST = 'must be PCI bus IDs like 0000:19:00.0, comma-separated';
/** Marks a command-line value that is not JSON (the schema then refuses it). */
const NOT_JSON = '\u0000not json';

const DTYPE_ALIASES: Readonly<Record<string, ModelDtype>> = {
  auto: 'auto',
  bfloat16: 'bfloat16',
  bf16: 'bfloat16',
  float16: 'float16',
  fp16: 'float16',
  half: 'float16',
  float32: 'float32',
  fp32: 'float32',
  float: 'float32',
};
const KV_FROM_DTYPE: Readonly<Record<ModelDtype, KvCacheDtype>> = {
  auto: 'bf16',
  bfloat16: 'bf16',
  float16: 'fp16',
  float32: 'fp32',
};

const schema = z.strictObject({
  model: z.string().min(1, { error: 'must not be empty' }).nullable(),
  // `load` first: a bad --dtype is reported as such, not as the --kv-cache-dtype it feeds.
  load: z.strictObject({
    loadFormat: oneOf(['auto', 'safetensors', 'dummy']),
    dtype: oneOf([...DTYPE_NAMES]),
    seed: number(int(0)),
  }),
  parallel: z.strictObject({
    tp: number(int(1)),
    pp: number(int(1)),
    dcp: number(int(1)),
    cpKvCacheInterleaveSize: number(int(1)),
    dcpCommBackend: oneOf(['ag_rs', 'a2a']),
  }),
  cache: z.strictObject({
    blockSize: number(int(1)),
    kvCacheDtype: oneOf(['bf16', 'fp16', 'fp32'], DTYPE_NAMES),
    kvCacheMemoryBytes: number(int(1).nullable()),
    numGpuBlocksOverride: number(int(1).nullable()),
    gpuMemoryUtilization: number(
      z
        .number({ error: 'must be a number in (0, 1]' })
        .gt(0, { error: 'must be > 0' })
        .max(1, { error: 'must be <= 1' }),
    ),
    enablePrefixCaching: bool,
  }),
  scheduler: z.strictObject({
    maxNumBatchedTokens: number(int(1)),
    maxNumSeqs: number(int(1)),
    maxModelLen: z.preprocess((v) => (v === 'auto' ? null : toNumber(v)), int(1).nullable()),
    enableChunkedPrefill: bool,
  }),
  attentionBackend: z.string().min(1, { error: 'must not be empty' }).nullable(),
  attentionBackendConfig: z.preprocess(
    (v) => {
      if (typeof v !== 'string') return v;
      try {
        return JSON.parse(v);
      } catch (e) {
        return { [NOT_JSON]: e instanceof Error ? e.message : String(e) };
      }
    },
    z
      .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
      .refine((o) => !(NOT_JSON in o), { error: 'must be a JSON object (it does not parse)' })
      .nullable(),
  ),
  webgpuDevices: z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v),
    z
      .array(z.string(), { error: PCI_LIST })
      .min(1, { error: 'must name at least one PCI bus ID' })
      .refine((ids) => ids.every((id) => PCI_BUS_ID.test(id)), { error: PCI_LIST })
      .nullable(),
  ),
  skipTokenizerInit: bool,
});

function defined<T extends object>(section: T | undefined): Partial<T> {
  if (!section) return {};
  return Object.fromEntries(Object.entries(section).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function resolveDtypes(merged: { load: Record<string, unknown>; cache: Record<string, unknown> }): void {
  const dtype = merged.load.dtype;
  if (typeof dtype === 'string' && DTYPE_ALIASES[dtype]) merged.load.dtype = DTYPE_ALIASES[dtype];
  const kv = merged.cache.kvCacheDtype;
  if (typeof kv !== 'string') return;
  if (kv.startsWith('fp8')) {
    throw new ConfigError(
      `--kv-cache-dtype ${kv} is not supported yet (fp8 KV cache); use auto, bfloat16, float16 or float32`,
      { field: 'cache.kvCacheDtype', flag: '--kv-cache-dtype' },
    );
  }
  const asModel = kv === 'auto' ? merged.load.dtype : DTYPE_ALIASES[kv];
  if (typeof asModel === 'string' && asModel in KV_FROM_DTYPE) {
    merged.cache.kvCacheDtype = KV_FROM_DTYPE[asModel as ModelDtype];
  }
}

/**
 * Builds a full {@link EngineConfig} from a partial one: fills the defaults, reads numbers given
 * as strings (`"8"`, `"32k"`, `"8G"`), resolves dtype aliases (`half`, `bf16`) and `--kv-cache-dtype
 * auto`, checks every field's type and range, then runs {@link validateEngineConfig} (with the
 * model's rules too when `modelConfig` is given). Throws a one-line {@link ConfigError} naming the
 * flag on the first problem.
 */
export function makeEngineConfig(
  input: EngineConfigInput = {},
  options: { modelConfig?: ModelConfig | null } = {},
): EngineConfig {
  const base = defaultEngineConfig();
  const merged = {
    ...base,
    ...defined({
      model: input.model,
      attentionBackend: input.attentionBackend,
      attentionBackendConfig: input.attentionBackendConfig,
      webgpuDevices: input.webgpuDevices,
      skipTokenizerInit: input.skipTokenizerInit,
    }),
    parallel: { ...base.parallel, ...defined(input.parallel) },
    cache: { ...base.cache, kvCacheDtype: 'auto', ...defined(input.cache) } as Record<string, unknown>,
    scheduler: { ...base.scheduler, ...defined(input.scheduler) },
    load: { ...base.load, ...defined(input.load) } as Record<string, unknown>,
  };
  resolveDtypes(merged);
  const result = schema.safeParse(merged);
  if (!result.success) {
    throw zodToConfigError(result.error, merged, { source: '', flag: flagForField, rawStrings: true });
  }
  const config: EngineConfig = { ...result.data };
  validateEngineConfig(config, options.modelConfig ?? null);
  return config;
}
