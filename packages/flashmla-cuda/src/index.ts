/**
 * @dcp/flashmla-cuda: CUDA MLA kernels as a Node native addon — paged MLA decode with LSE,
 * KV write, DCP merge kernels, context gather — plus their wiring to the `@dcp/backend` contract.
 */
export { DeviceBuffer, type DeviceRef, type DeviceView } from './buffer.js';
export {
  FLASHMLA_CUDA,
  type FlashMlaCudaOptions,
  flashMlaCudaCapabilities,
  flashMlaCudaDescriptor,
  MISSING_OPS,
  registerFlashMlaCuda,
} from './descriptor.js';
export { type AddonLoad, addonCandidates, loadAddon, type NativeProbe } from './native.js';
export { type CudaCommBuffer, type CudaMlaOpNames, CudaMlaOps } from './ops.js';
export { CUDA_UNAVAILABLE_CODES, type CudaProbe, CudaUnavailableError, probeCuda } from './probe.js';
export {
  type A2aCombineArgs,
  type ContextGatherArgs,
  CudaGraph,
  CudaRank,
  type GenericOp,
  type KvWriteArgs,
  type LseCorrectArgs,
  type LsePackArgs,
  type MlaDecodeArgs,
} from './rank.js';
export type { CudaTensor } from './tensor.js';
