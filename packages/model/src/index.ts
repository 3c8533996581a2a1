export type { BatchPlan, ContextChunk, DcpLayout, ForwardBatch } from './batch.js';
export { DEFAULT_CONTEXT_CHUNK, planBatch, planContextChunks } from './batch.js';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, toHostData } from './dtype.js';
export { dummyScale, dummyTensor, dummyUniform, nameHash } from './dummy.js';
export { ModelError, WeightLoadError } from './errors.js';
export { rankLayout } from './layout.js';
export type { ForwardResult, LoadOptions, ModelOptions } from './model.js';
export { DeepseekV2Model } from './model.js';
export type { TensorSpec } from './names.js';
export { layerTensorSpecs, modelTensorSpecs, parameterCount } from './names.js';
export { type TensorLookup, tensorReaderWeightSource } from './reader-weight-source.js';
export {
  type ByteSource,
  type HttpByteSourceOptions,
  memoryByteSource,
  openHttpByteSource,
} from './remote/byte-source.js';
export {
  type HttpCheckpointOptions,
  openHttpCheckpoint,
  parseWeightMap,
  type RemoteCheckpoint,
} from './remote/checkpoint.js';
export {
  openSafetensorsSource,
  type SafetensorsSource,
  type SourceReadOptions,
} from './remote/safetensors-source.js';
export type { RopeTables } from './rope.js';
export { ropeCosSin, ropeTables, yarnMscale } from './rope.js';
export { SafetensorsError } from './safetensors/errors.js';
export type { ModelShard, ShardSlice } from './sharding.js';
export {
  expertRange,
  fullShard,
  localHeads,
  shardSlice,
  splitRange,
  takeSlice,
  vocabRange,
} from './sharding.js';
export type { LoadProgress, PlannedTensor, WeightSource } from './weight-source.js';
export { dummyWeightSource, planTensors } from './weight-source.js';
