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
  /** A software adapter (lavapipe, SwiftShader): kernels are compiled for CPU threads. */
  readonly software: boolean;
  /** The adapter's subgroup sizes (0 where it reports none), from its summary (`describeAdapter`). */
  readonly subgroupSizes: { readonly min: number; readonly max: number };
  readonly pipelines: Map<string, GPUComputePipeline>;
  /** Host caches of the kernel launcher (`run.ts`): pipelines by structural key, layouts, bind groups. */
  readonly host: HostCache;
  readonly pool: Map<number, GPUBuffer[]>;
  readonly ring: GPUBuffer;
  ringNext: number;
  /** Host copy of the ring: slots are filled here and written in one go when the batch is submitted. */
  readonly ringHost: Uint32Array;
  /** First slot written since the last flush. */
  ringStart: number;
  /** The encoder ops are recorded into until the next flush. */
  pending: GPUCommandEncoder | null;
  /** The compute pass left open on `pending` so consecutive dispatches share it (see `computePass`). */
  pass: GPUComputePassEncoder | null;
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
export function createGpu(
  device: GPUDevice,
  adapter: { software: boolean; subgroupSizes: { min: number; max: number } },
  instance: unknown,
): Gpu {
  const { software } = adapter;
  const gpu: Gpu = {
    device,
    instance,
    maxBinding: device.limits.maxStorageBufferBindingSize,
    maxWorkgroupStorage: device.limits.maxComputeWorkgroupStorageSize,
    targetGroups: software ? 8 : 512,
    software,
    subgroupSizes: { ...adapter.subgroupSizes },
    subgroups: device.features.has('subgroups'),
    pipelines: new Map(),
    host: { kernels: new Map(), layouts: new Map(), groups: new Map(), ids: new WeakMap(), nextId: 1 },
    pool: new Map(),
    ring: device.createBuffer({ size: PARAM_SLOT * RING_SLOTS, usage: USAGE.UNIFORM | USAGE.COPY_DST }),
    ringNext: 0,
    ringHost: new Uint32Array((PARAM_SLOT * RING_SLOTS) / 4),
    ringStart: 0,
    pending: null,
    pass: null,
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

/**
 * The pending encoder (created on first use), for copies, clears and passes of one's own: the open
 * compute pass is ended first, so whatever is recorded next comes after every dispatch before it.
 */
export function encoder(gpu: Gpu): GPUCommandEncoder {
  endPass(gpu);
  gpu.pending ??= gpu.device.createCommandEncoder();
  return gpu.pending;
}

/**
 * The open compute pass of the pending encoder (begun on first use). Dispatches recorded into it
 * run in order, each seeing the writes of those before it (a dispatch is its own usage scope).
 */
export function computePass(gpu: Gpu): GPUComputePassEncoder {
  if (gpu.pass) return gpu.pass;
  const enc = encoder(gpu);
  gpu.pass = enc.beginComputePass();
  return gpu.pass;
}

/** Ends the open compute pass, if any. */
export function endPass(gpu: Gpu): void {
  if (gpu.pass) gpu.pass.end();
  gpu.pass = null;
}

/** Submits the pending work (if any). */
export function flush(gpu: Gpu): void {
  endPass(gpu);
  writeRing(gpu);
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
  // Cached bind groups may name the buffers about to be destroyed.
  gpu.host.groups.clear();
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
 * What the kernel launcher caches on a device so that an op costs little host time: the
 * pipeline (and its layout) of each kernel by a structural key, so the WGSL text is built and
 * hashed once per kernel shape; bind-group layouts by the access of their bindings; bind groups
 * by layout and buffer identities (the parameter ring is bound with a dynamic offset, so one
 * group serves every parameter slot).
 */
export interface HostCache {
  /**
   * Pipelines by body, then module text, then the rest of `kernelKey`: the long texts are mostly
   * the same string objects each call (constants, memoised matmul texts), whose hashes V8 keeps,
   * so a lookup does not rehash them as one concatenated key would.
   */
  readonly kernels: Map<
    string,
    Map<string, Map<string, { pipeline: GPUComputePipeline; layout: CachedLayout }>>
  >;
  readonly layouts: Map<string, CachedLayout>;
  readonly groups: Map<string, GPUBindGroup>;
  /** A small number per buffer, for bind-group keys. */
  readonly ids: WeakMap<GPUBuffer, number>;
  nextId: number;
}

/** An explicit bind-group layout: binding 0 the parameter slot (dynamic offset), then storage. */
export interface CachedLayout {
  readonly id: number;
  readonly group: GPUBindGroupLayout;
  readonly pipeline: GPUPipelineLayout;
}

/** Bind groups kept at most; past this the cache starts over (a step uses far fewer). */
const MAX_GROUPS = 4096;
const COMPUTE = 0x4;

/**
 * The explicit layout for storage bindings whose access is `writable[j]` (true: `read_write`),
 * after the parameter slot at binding 0.
 */
export function layoutFor(gpu: Gpu, writable: readonly boolean[]): CachedLayout {
  const key = writable.map((w) => (w ? 'w' : 'r')).join('');
  let l = gpu.host.layouts.get(key);
  if (!l) {
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
      ...writable.map(
        (w, j): GPUBindGroupLayoutEntry => ({
          binding: j + 1,
          visibility: COMPUTE,
          buffer: { type: w ? 'storage' : 'read-only-storage' },
        }),
      ),
    ];
    const group = gpu.device.createBindGroupLayout({ entries });
    const pipeline = gpu.device.createPipelineLayout({ bindGroupLayouts: [group] });
    l = { id: gpu.host.layouts.size + 1, group, pipeline };
    gpu.host.layouts.set(key, l);
  }
  return l;
}

/** The pipeline of the WGSL `code` compiled against the explicit `layout`. */
export function pipelineWithLayout(gpu: Gpu, code: string, layout: CachedLayout): GPUComputePipeline {
  const module = gpu.device.createShaderModule({ code });
  return gpu.device.createComputePipeline({
    layout: layout.pipeline,
    compute: { module, entryPoint: 'main' },
  });
}

function bufferId(gpu: Gpu, b: GPUBuffer): number {
  let id = gpu.host.ids.get(b);
  if (id === undefined) {
    id = gpu.host.nextId++;
    gpu.host.ids.set(b, id);
  }
  return id;
}

/**
 * The bind group of `layout` over the parameter ring (one slot, offset given at `setBindGroup`)
 * and whole `buffers`, cached by the buffers' identities. A pooled buffer keeps its identity
 * when it changes owner, so its groups stay valid; `drainPool` drops them all before destroying.
 */
export function bindGroupFor(gpu: Gpu, layout: CachedLayout, buffers: readonly GPUBuffer[]): GPUBindGroup {
  let key = `${layout.id}`;
  for (const b of buffers) key += `,${bufferId(gpu, b)}`;
  let g = gpu.host.groups.get(key);
  if (!g) {
    if (gpu.host.groups.size >= MAX_GROUPS) gpu.host.groups.clear();
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: gpu.ring, offset: 0, size: PARAM_SLOT } },
    ];
    buffers.forEach((buffer, j) => {
      entries.push({ binding: j + 1, resource: { buffer } });
    });
    g = gpu.device.createBindGroup({ layout: layout.group, entries });
    gpu.host.groups.set(key, g);
  }
  return g;
}

/**
 * Reserves a parameter slot and puts `words` (at most a slot) in the host copy of the ring. The
 * batch's slots reach the GPU in one `writeBuffer` just before the batch is submitted (`flush`),
 * so every slot is used once per batch: the batch is submitted before the ring would wrap into
 * slots it still reads (later writes are ordered after that submit).
 */
export function paramSlot(gpu: Gpu, words: Uint32Array): number {
  if (gpu.ringUsed >= RING_SLOTS) flush(gpu);
  if (gpu.ringUsed === 0) gpu.ringStart = gpu.ringNext;
  gpu.ringUsed += 1;
  const offset = gpu.ringNext * PARAM_SLOT;
  gpu.ringNext = (gpu.ringNext + 1) % RING_SLOTS;
  const at = offset / 4;
  gpu.ringHost.set(words, at);
  // Callers pass whole slots; a shorter `words` leaves zeros after it, not a previous op's words.
  if (words.length < PARAM_SLOT / 4) gpu.ringHost.fill(0, at + words.length, at + PARAM_SLOT / 4);
  return offset;
}

/** Writes the slots filled since the last flush to the GPU ring (two writes where they wrap). */
function writeRing(gpu: Gpu): void {
  if (gpu.ringUsed === 0) return;
  const first = Math.min(gpu.ringUsed, RING_SLOTS - gpu.ringStart);
  const write = (slot: number, n: number) =>
    gpu.device.queue.writeBuffer(
      gpu.ring,
      slot * PARAM_SLOT,
      gpu.ringHost.buffer,
      slot * PARAM_SLOT,
      n * PARAM_SLOT,
    );
  write(gpu.ringStart, first);
  if (first < gpu.ringUsed) write(0, gpu.ringUsed - first);
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
