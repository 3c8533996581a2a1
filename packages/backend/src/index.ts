export { capabilityReasons } from './capabilities.js';
export type {
  AttentionBackend,
  BackendCapabilities,
  BackendConfig,
  BackendCreateOptions,
  BackendDescriptor,
  BlockSizeSpec,
} from './descriptor.js';
export type { LseCombineOptions, LseCombineResult } from './lse-combine.js';
export { lseCombine } from './lse-combine.js';
export type {
  BackendOps,
  DecodeMeta,
  GatherCacheMeta,
  MoeRouteOptions,
  RopeLayout,
  RopeOptions,
  VarlenMeta,
} from './ops.js';
export type { BackendRegistry, BackendSelection, SelectBackendOptions } from './registry.js';
export { backendReasons, createBackendRegistry, NoBackendError, selectBackend } from './registry.js';
export type { DType, FloatDType, HostData, Tensor } from './tensor.js';
export { dtypeBytes, numel } from './tensor.js';
