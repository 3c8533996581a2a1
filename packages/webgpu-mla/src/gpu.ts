/**
 * One WebGPU device as the backend uses it: limits, the pipeline cache (keyed by WGSL source),
 * a pool of free buffers by size, the uniform ring for op parameters, the first device error
 * (reported by the next `download`), and the pending command encoder: ops are encoded into it
 * and submitted together when the host needs a result (`download`), every `BATCH_OPS` ops, or
 * before the parameter ring would wrap — so a model step is a handful of submits, not one per op.
 * Host data goes through staging buffers copied inside the same encoder, keeping queue order.
 * Instances of the backend that share a device share this.
 */

/** `GPUBufferUsage` / `GPUMapMode` bits (numbers, so no globals are needed in Node). */
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_MODE_READ = 0x1;

/** Bytes of one parameter slot in the uniform ring (the uniform offset alignment). */
export const PARAM_SLOT = 256;
const RING_SLOTS = 1024;
/** Ops per submit at most (the GPU starts on long steps before the host has encoded them all). */
const BATCH_OPS = 64;

/** The device and everything cached on it. */
export interface Gpu {
  readonly device: GPUDevice;
  /** Largest storage binding in bytes (128 MiB on CPU implementations). */
  readonly maxBinding: number;
  /** Workgroup memory in bytes. */
  readonly maxWorkgroupStorage: number;
  /** Whether kernels may use subgroup operations (the device was created with `subgroups`). */
  readonly subgroups: boolean;
  /** Workgroups worth launching for one op (more splits of the KV on big GPUs). */
  readonly targetGroups: number;
  readonly pipelines: Map<string, GPUComputePipeline>;
  readonly pool: Map<number, GPUBuffer[]>;
  readonly ring: GPUBuffer;
  ringNext: number;
  /** The encoder ops are recorded into until the next flush. */
  pending: GPUCommandEncoder | null;
  pendingOps: number;
  /** Parameter slots written since the last flush. */
  ringUsed: number;
  /** Staging buffers to destroy once the pending work is submitted. */
  staging: GPUBuffer[];
  /** First validation / out-of-memory / device-lost message, if any. */
  error: string | null;
  /**
   * The `GPU` object the device came from. Dawn in Node (the npm `webgpu` package) destroys its
   * native instance when that object is garbage collected, and the device's next event poll then
   * crashes the process (signal 11) — so every holder of the device keeps it reachable.
   */
  readonly instance: unknown;
}

/**
 * Wraps a device created with the limits the kernels need. `instance` is the `GPU` object the
 * device came from: it is kept reachable for as long as the device is used (see `Gpu.instance`).
 */
export function createGpu(device: GPUDevice, software: boolean, instance: unknown): Gpu {
  const gpu: Gpu = {
    device,
    instance,
    maxBinding: device.limits.maxStorageBufferBindingSize,
    maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize,
    targetGroups: software ? 8 : 512,
    subgroups: device.features.has('subgroups'),
    pipelines: new Map(),
    pool: new Map(),
    ring: device.createBuffer({ size: PARAM_SLOT * RING_SLOTS, usage: USAGE.UNIFORM | USAGE.COPY_DST }),
    ringNext: 0,
    pending: null,
    pendingOps: 0,
    ringUsed: 0,
    staging: [],
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

/** The pending encoder (created on first use). */
export function encoder(gpu: Gpu): GPUCommandEncoder {
  gpu.pending ??= gpu.device.createCommandEncoder();
  return gpu.pending;
}

/** Submits the pending work (if any). */
export function flush(gpu: Gpu): void {
  if (gpu.pending) gpu.device.queue.submit([gpu.pending.finish()]);
  gpu.pending = null;
  gpu.pendingOps = 0;
  gpu.ringUsed = 0;
  for (const b of gpu.staging) b.destroy();
  gpu.staging = [];
}

/** Counts one encoded op; submits every `BATCH_OPS`. */
export function opEncoded(gpu: Gpu): void {
  gpu.pendingOps += 1;
  if (gpu.pendingOps >= BATCH_OPS) flush(gpu);
}

/** Copies host bytes (a multiple of 4) into `dst` at `offset`, in queue order with the pending ops. */
export function stageWrite(gpu: Gpu, dst: GPUBuffer, offset: number, bytes: Uint8Array): void {
  if (bytes.byteLength === 0) return;
  const staging = gpu.device.createBuffer({
    size: bytes.byteLength,
    usage: USAGE.COPY_SRC,
    mappedAtCreation: true,
  });
  new Uint8Array(staging.getMappedRange()).set(bytes);
  staging.unmap();
  encoder(gpu).copyBufferToBuffer(staging, 0, dst, offset, bytes.byteLength);
  gpu.staging.push(staging);
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
    // Cleared in order with the pending ops (which may still use it under its previous owner).
    encoder(gpu).clearBuffer(reused);
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
 * Reserves a parameter slot and writes `words` into it. `writeBuffer` lands before the pending
 * encoder is submitted, so every slot is used once per batch: the batch is submitted before the
 * ring would wrap into slots it still reads (later writes are ordered after that submit).
 */
export function paramSlot(gpu: Gpu, words: Uint32Array): number {
  if (gpu.ringUsed >= RING_SLOTS) flush(gpu);
  gpu.ringUsed += 1;
  const offset = gpu.ringNext * PARAM_SLOT;
  gpu.ringNext = (gpu.ringNext + 1) % RING_SLOTS;
  gpu.device.queue.writeBuffer(gpu.ring, offset, words.buffer, words.byteOffset, words.byteLength);
  return offset;
}

/**
 * Throws the device's first error (validation, out-of-memory, internal, device lost), if any.
 * The error stays: work queued after it may have been dropped or read garbage, so every later
 * read fails with the same message instead of returning wrong numbers.
 */
export function checkDevice(gpu: Gpu): void {
  if (gpu.error !== null) throw new Error(gpu.error);
}

/**
 * Reads `bytes` bytes at `offset` (multiples of 4) of `src` back to the host, after all queued
 * work; rejects with the device's first error when there was one (see `checkDevice`).
 */
export async function readBack(
  gpu: Gpu,
  src: GPUBuffer,
  offset: number,
  bytes: number,
): Promise<ArrayBuffer> {
  flush(gpu);
  checkDevice(gpu);
  const size = Math.max(4, bytes);
  const staging = gpu.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  const enc = gpu.device.createCommandEncoder();
  if (bytes > 0) enc.copyBufferToBuffer(src, offset, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  try {
    try {
      await staging.mapAsync(MAP_MODE_READ);
    } catch (e) {
      checkDevice(gpu);
      throw e;
    }
    checkDevice(gpu);
    const copy = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    return copy;
  } finally {
    staging.destroy();
  }
}
