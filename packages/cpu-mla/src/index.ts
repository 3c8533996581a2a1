export {
  CPU_MLA_NAME,
  type CpuMlaBackend,
  cpuMlaCapabilities,
  cpuMlaDescriptor,
  createCpuMlaBackend,
  isCpuTensor,
  registerCpuMla,
} from './backend.js';
export type { CpuTensor } from './tensor.js';
