/**
 * One WebGPU device as the backend uses it: limits, the pipeline cache (keyed by WGSL source),
 * a pool of free buffers by size, the uniform ring for op parameters, and the first device error
 * (reported by the next `download`). Instances of the backend that share a device share this.
 */

/** `GPUBufferUsage` / `GPUMapMode` bits (numbers, so no globals are needed in Node). */
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;

/** Bytes of one parameter slot in the uniform ring (the uniform offset alignment). */
export const PARAM_SLOT = 256;
const RING_SLOTS = 1024;

/** The device and everything cached on it. */
export interface Gpu {
  readonly device: GPUDevice;
  /** Largest storage binding in bytes (128 MiB on CPU implementations). */
  readonly maxBinding: number;
  /** Workgroup memory in bytes. */
  readonly maxWorkgroupStorage: number;
  /** Workgroups worth launching for one op (more splits of the KV on big GPUs). */
  readonly targetGroups: number;
  readonly pipelines: Map<string, GPUComputePipeline>;
  readonly pool: Map<number, GPUBuffer[]>;
  readonly ring: GPUBuffer;
  ringNext: number;
  /** First validation / out-of-memory / device-lost message, if any. */
  error: string | null;
}

/** Wraps a device created with the limits the kernels need. */
export function createGpu(device: GPUDevice, software: boolean): Gpu {
  const gpu: Gpu = {
    device,
    maxBinding: device.limits.maxStorageBufferBindingSize,
    maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize,
    targetGroups: software ? 8 : 512,
    pipelines: new Map(),
    pool: new Map(),
    ring: device.createBuffer({ size: PARAM_SLOT * RING_SLOTS, usage: USAGE.UNIFORM | USAGE.COPY_DST }),
    ringNext: 0,
    error: null,
  };
  const onError = (ev: Event) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    gpu.error ??= `WebGPU error: ${e?.message ?? String(e)}`;
  };
  if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
  else (device as { onuncapturederror?: unknown }).onuncapturederror = onError;
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') gpu.error ??= `WebGPU device lost: ${info.message}`;
  });
  return gpu;
}

/** Rounded allocation size (pool bucket) of `bytes`. */
export function bucketBytes(bytes: number): number {
  return Math.max(256, Math.ceil(bytes / 256) * 256);
}

/** A storage buffer of at least `bytes` (from the pool, zero-filled, when one is free). */
export function takeBuffer(gpu: Gpu, bytes: number): GPUBuffer {
  const size = bucketBytes(bytes);
  const free = gpu.pool.get(size);
  const reused = free?.pop();
  if (reused) {
    const enc = gpu.device.createCommandEncoder();
    enc.clearBuffer(reused);
    gpu.device.queue.submit([enc.finish()]);
    return reused;
  }
  return gpu.device.createBuffer({
    size,
    usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST,
  });
}

/** Returns a buffer to the pool (later queue work is ordered after work already submitted). */
export function releaseBuffer(gpu: Gpu, buffer: GPUBuffer): void {
  const list = gpu.pool.get(buffer.size);
  if (list) list.push(buffer);
  else gpu.pool.set(buffer.size, [buffer]);
}

/** Destroys every pooled buffer. */
export function drainPool(gpu: Gpu): void {
  for (const list of gpu.pool.values()) for (const b of list) b.destroy();
  gpu.pool.clear();
}

/** The cached pipeline of a WGSL source (the source is the key). */
export function pipelineFor(gpu: Gpu, code: string): GPUComputePipeline {
  let p = gpu.pipelines.get(code);
  if (!p) {
    const module = gpu.device.createShaderModule({ code });
    p = gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    gpu.pipelines.set(code, p);
  }
  return p;
}

/**
 * Reserves a parameter slot and writes `words` into it. Reuse of a slot after the ring wraps is
 * safe: `writeBuffer` is ordered after every command buffer submitted before it.
 */
export function paramSlot(gpu: Gpu, words: Uint32Array): number {
  const offset = gpu.ringNext * PARAM_SLOT;
  gpu.ringNext = (gpu.ringNext + 1) % RING_SLOTS;
  gpu.device.queue.writeBuffer(gpu.ring, offset, words.buffer, words.byteOffset, words.byteLength);
  return offset;
}

/** Reads `bytes` bytes at `offset` (multiples of 4) of `src` back to the host. */
export async function readBack(
  gpu: Gpu,
  src: GPUBuffer,
  offset: number,
  bytes: number,
): Promise<ArrayBuffer> {
  const size = Math.max(4, bytes);
  const staging = gpu.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  if (bytes > 0) enc.copyBufferToBuffer(src, offset, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  try {
    await staging.mapAsync(MAP_MODE_READ);
    const copy = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    return copy;
  } finally {
    staging.destroy();
  }
}
