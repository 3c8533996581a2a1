export { capabilityReasons } from './capabilities.js';
export type { ContextChunk, ContextPlanOptions } from './context.js';
export { gatherContextChunk, planContextChunks } from './context.js';
export type {
  AttentionBackend,
  BackendCapabilities,
  BackendConfig,
  BackendCreateOptions,
  BackendDescriptor,
  BlockSizeSpec,
} from './descriptor.js';
export {
  bf16ToF32,
  bf16ToNumber,
  f16ToF32,
  f16ToNumber,
  f32ToBf16,
  f32ToF16,
  numberToBf16,
  numberToF16,
} from './half.js';
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
