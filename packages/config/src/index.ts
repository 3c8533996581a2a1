export { ConfigError, isConfigError } from './errors.js';
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
