/**
 * `@dcp/webgpu-mla` for Node: the GPU comes from Dawn (the npm `webgpu` package). On Linux Dawn
 * needs a Vulkan driver; without a GPU, lavapipe from Mesa 25 works (`.ci/deps/webgpu.sh`
 * installs it and sets `VK_ICD_FILENAMES`).
 */
import type { BackendRegistry } from '@dcp/backend';
import { registerWithGpu, webgpuMlaDescriptor } from './backend.js';
import type { RegisterOptions } from './index.js';

export * from './index.js';

const NODE_HINT =
  'Dawn found no adapter: on Linux it needs a Vulkan driver (a GPU driver, or Mesa 25 lavapipe via VK_ICD_FILENAMES — see .ci/deps/webgpu.sh)';

/** Node options: Dawn's `create()` flags on top of the common ones. */
export interface NodeRegisterOptions extends RegisterOptions {
  /** Flags for Dawn's `create()`, e.g. `['backend=vulkan']`. */
  dawnFlags?: string[];
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
  const { dawnFlags, ...rest } = o;
  let gpu: Promise<GPU | null> | null = null;
  return {
    noAdapterHint: NODE_HINT,
    ...rest,
    requestGpu: o.requestGpu ?? (() => (gpu ??= dawnGpu(dawnFlags))),
  };
}

/** The descriptor with Dawn's GPU. */
export function platformDescriptor(o: NodeRegisterOptions = {}): ReturnType<typeof webgpuMlaDescriptor> {
  return webgpuMlaDescriptor(withDawn(o));
}

/** Registers `webgpu-mla` (Dawn) in `registry`; the factory fails with the reason where no adapter exists. */
export function registerWebgpuMla(registry: BackendRegistry, o: NodeRegisterOptions = {}): void {
  registerWithGpu(registry, withDawn(o));
}
