/**
 * Node-only safetensors reading: validated headers, positional reads of whole tensors or slices,
 * single-file and sharded (`model.safetensors.index.json`) checkpoints. Exported from the `node`
 * entry of `@dcp/model`.
 */
export { type Checkpoint, INDEX_FILE, openCheckpoint, readIndex, SINGLE_FILE } from './checkpoint.js';
export type { TensorBytes, TensorData } from './decode.js';
export { bf16BitsToF32, DTYPE_BYTES, f16BitsToF32, isDtype, type SafetensorsDtype } from './dtypes.js';
export { SafetensorsError } from './errors.js';
export {
  type OpenOptions,
  openSafetensors,
  type ReadOptions,
  type ReadStats,
  type SafetensorsFile,
  type TensorReader,
} from './file.js';
export {
  checkHeaderLength,
  DEFAULT_MAX_HEADER_BYTES,
  parseHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';
export { type ByteRun, byteRuns, type DimRange, resolveSlice, type SliceOptions } from './slice.js';
export { encodeSafetensors, type TensorToWrite, writeSafetensors } from './writer.js';
