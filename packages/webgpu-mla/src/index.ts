/**
 * `@dcp/webgpu-mla` for browsers (and any runtime with `navigator.gpu`). Node resolves the
 * `node` condition instead (`./node.ts`), which takes the GPU from Dawn.
 */
import type { BackendRegistry } from '@dcp/backend';
import { registerWithGpu, type WebgpuMlaOptions, webgpuMlaDescriptor } from './backend.js';

export {
  createWebgpuMlaBackend,
  WEBGPU_MLA_NAME,
  type WebgpuMlaBackend,
  type WebgpuMlaOptions,
  webgpuMlaCapabilities,
  webgpuMlaDescriptor,
} from './backend.js';
export { describeAdapter, type WebGpuAdapterSummary } from './caps.js';
export { wrapHostCommunicator } from './comm.js';
export { type DecodeKernelRun, type DecodeOptions, defaultDecodeOptions } from './decode-options.js';
export { defaultMatmulOptions, type MatmulOptions } from './matmul.js';
export { isWebGpuTensor, type WebGpuTensor } from './tensor.js';

/** Registration options: everything but where the GPU comes from. */
export type RegisterOptions = Omit<WebgpuMlaOptions, 'requestGpu'> &
  Partial<Pick<WebgpuMlaOptions, 'requestGpu'>>;

/** `navigator.gpu` where it exists. */
export function defaultGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

/** The descriptor with the platform's GPU (`navigator.gpu` here). */
export function platformDescriptor(o: RegisterOptions = {}): ReturnType<typeof webgpuMlaDescriptor> {
  return webgpuMlaDescriptor({
    noAdapterHint:
      'navigator.gpu missing or no adapter: use a browser with WebGPU enabled, on a secure (https or localhost) page',
    ...o,
    requestGpu: o.requestGpu ?? defaultGpu,
  });
}

/** Registers `webgpu-mla` in `registry`; the factory fails with the reason where no adapter exists. */
export function registerWebgpuMla(registry: BackendRegistry, o: RegisterOptions = {}): void {
  registerWithGpu(registry, { ...o, requestGpu: o.requestGpu ?? defaultGpu });
}
