/**
 * `@dcp/webgpu-mla` for Node: the GPU comes from Dawn (the npm `webgpu` package). On Linux Dawn
 * needs a Vulkan driver; without a GPU, lavapipe from Mesa 25 works (`.ci/deps/webgpu.sh`
 * installs it and sets `VK_ICD_FILENAMES`).
 */
import type { BackendRegistry } from '@dcp/backend';
import { registerWithGpu, webgpuMlaDescriptor } from './backend.js';
import type { RegisterOptions } from './index.js';
import { pinnedGpu } from './pci-select.js';

export { WEBGPU_MLA_CONFIG_KEYS, webgpuMlaConfigOptions } from './config-options.js';
export * from './index.js';
export { deviceSelectLayer, driPrimeTag } from './pci-select.js';

const NODE_HINT =
  'Dawn found no adapter: on Linux it needs a Vulkan driver (a GPU driver, or Mesa 25 lavapipe via VK_ICD_FILENAMES — see .ci/deps/webgpu.sh)';

/** Node options: Dawn's `create()` flags on top of the common ones. */
export interface NodeRegisterOptions extends RegisterOptions {
  /** Flags for Dawn's `create()`, e.g. `['backend=vulkan']`. */
  dawnFlags?: string[];
  /**
   * The GPU to use, by PCI bus ID (`0000:19:00.0`, as `nvidia-smi --query-gpu=pci.bus_id` prints
   * it), where several GPUs share a name (Dawn alone always returns the first of them). Needs
   * Mesa's Vulkan device-select layer (`mesa-vulkan-drivers`, Mesa 25 tested); from a worker
   * thread, one started with `env: SHARE_ENV`. See `pci-select.ts`.
   */
  pciBusId?: string;
  /**
   * An `Int32Array` over a `SharedArrayBuffer` (initially 0) given to every thread of the process
   * that sets `pciBusId`: the adapter requests take turns (they set a process-wide variable).
   */
  adapterLock?: Int32Array;
}

/** A `GPU` from Dawn, or null when the `webgpu` package cannot load here. */
export async function dawnGpu(flags: string[] = []): Promise<GPU | null> {
  try {
    const m = (await import('webgpu')) as { create(flags: string[]): GPU };
    return m.create(flags);
  } catch (e) {
    throw new Error(
      `the npm package 'webgpu' (Dawn) failed to load: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

function withDawn(o: NodeRegisterOptions) {
  const { dawnFlags, pciBusId, adapterLock, ...rest } = o;
  let gpu: Promise<GPU | null> | null = null;
  const base = o.requestGpu ?? (() => (gpu ??= dawnGpu(dawnFlags)));
  const pin = async () => {
    const g = await base();
    return g && pciBusId !== undefined ? pinnedGpu(g, pciBusId, adapterLock) : g;
  };
  return { noAdapterHint: NODE_HINT, ...rest, requestGpu: pciBusId === undefined ? base : pin };
}

/** The descriptor with Dawn's GPU. */
export function platformDescriptor(o: NodeRegisterOptions = {}): ReturnType<typeof webgpuMlaDescriptor> {
  return webgpuMlaDescriptor(withDawn(o));
}

/** Registers `webgpu-mla` (Dawn) in `registry`; the factory fails with the reason where no adapter exists. */
export function registerWebgpuMla(registry: BackendRegistry, o: NodeRegisterOptions = {}): void {
  registerWithGpu(registry, withDawn(o));
}
