export { normalizeArgv } from './argv.js';
export type {
  CacheConfig,
  DcpCommBackend,
  EngineConfig,
  EngineConfigInput,
  KvCacheDtype,
  LoadConfig,
  LoadFormat,
  ModelDtype,
  ParallelConfig,
  SchedulerConfig,
} from './engine-config.js';
export { defaultEngineConfig, worldSize } from './engine-config.js';
export { ConfigError, isConfigError } from './errors.js';
export type { EngineFlag } from './flags.js';
export { ENGINE_FLAGS, flagForField, flagLabel } from './flags.js';
export { parseHfModelConfig } from './hf-config.js';
export type {
  DefaultRope,
  ModelConfig,
  RopeConfig,
  TopkMethod,
  TorchDtype,
  YarnRope,
} from './model-config.js';
export { isMoeLayer, qkHeadDim } from './model-config.js';
export { parseHumanNumber } from './numbers.js';
export { makeEngineConfig } from './schema.js';
export { validateEngineConfig } from './validate.js';
