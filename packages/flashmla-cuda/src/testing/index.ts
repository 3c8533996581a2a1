/**
 * @dcp/flashmla-cuda/testing: the GPU correctness checks and their float64 references, for the
 * package's own tests and for running on a GPU host (`runGpuChecks`).
 */
export { type CheckResult, DECODE_CASES, runGpuChecks } from './checks.js';
export { CONFORMANCE_FILTERS, deviceCommunicators, runConformanceOnGpu } from './conformance.js';
export {
  bf16ToF64,
  bf16Value,
  refAttention,
  refCorrectionFactor,
  refGlobalLse,
  relError,
  rng,
} from './reference.js';
