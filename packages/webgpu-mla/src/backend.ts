/**
 * The `webgpu-mla` backend: the instance (the op contract over WGSL kernels), the descriptor
 * (adapter detection inside its async factory) and registration.
 */
import type {
  AttentionBackend,
  BackendCapabilities,
  BackendConfig,
  BackendCreateOptions,
  BackendDescriptor,
  BackendRegistry,
  DType,
} from '@dcp/backend';
import { numel } from '@dcp/backend';
import type { Communicator, HostArray } from '@dcp/parallel-state';
import { attention, mergeAttnStates } from './attention.js';
import { gatherCache, writeKv } from './cache.js';
import { describeAdapter, requestDevice, type WebGpuAdapterSummary } from './caps.js';
import { wrapHostCommunicator } from './comm.js';
import { mlaDecode } from './decode.js';
import {
  checkDecodeOptions,
  type DecodeKernelRun,
  type DecodeOptions,
  defaultDecodeOptions,
} from './decode-options.js';
import {
  add,
  argmax,
  copyColumns,
  embedding,
  gatherRows,
  headMatmul,
  linear,
  rmsNorm,
  rope,
  siluMul,
} from './dense.js';
import { createGpu, drainPool, flush, type Gpu } from './gpu.js';
import { checkMatmulOptions, defaultMatmulOptions, type MatmulOptions, type MatmulState } from './matmul.js';
import {
  alloc,
  dispose,
  download,
  fill,
  releaseStorage,
  reshape,
  sliceRows,
  streamCopy,
  upload,
  write,
} from './memory.js';
import { lseCombineA2a, lseCorrect, lsePack } from './merge.js';
import { moeExperts, moeRoute } from './moe.js';
import { type StorageOptions, storageLayout } from './segments.js';
import {
  arg,
  checkShape,
  count,
  makeTensor,
  type Owner,
  type StorageLayout,
  type WebGpuTensor,
} from './tensor.js';

/** Name under which the backend registers (`--attention-backend webgpu-mla`). */
export const WEBGPU_MLA_NAME = 'webgpu-mla';

/** Every dtype, block size, latent width and interleave; decode LSE in natural log. */
export const webgpuMlaCapabilities: BackendCapabilities = {
  dtypes: ['f32', 'bf16', 'f16'],
  kvCacheDtypes: ['f32', 'bf16', 'f16'],
  blockSizes: [{ multipleOf: 1 }],
  latentWidths: 'any',
  returnsDecodeLse: true,
  decodeLseBase: 'e',
  multiTokenDecode: true,
  interleaveSizes: 'any',
  // A software adapter (lavapipe) serves without a GPU; the factory decides.
  needsGpu: false,
};

/** A backend instance: the contract plus the adapter it runs on and the communicator bridge. */
export interface WebgpuMlaBackend extends AttentionBackend<WebGpuTensor, WebGpuTensor> {
  /** The adapter the device came from. */
  readonly adapter: WebGpuAdapterSummary;
  /** How tensors are laid out: buffer (segment) size, bindings per kernel, native f16 outputs. */
  readonly layout: StorageLayout;
  /** Wraps a host communicator (ThreadCommunicator) so collectives take and return WebGPU tensors. */
  wrapCommunicator(comm: Communicator<HostArray>): Communicator<WebGpuTensor>;
  /** Copies `src`'s whole buffer into `dst`'s (same size) with a vec4 kernel: a bandwidth probe. */
  streamCopy(src: WebGpuTensor, dst: WebGpuTensor): void;
  /** The matmul kernel choice and tuning of this instance (a copy). */
  matmulOptions(): MatmulOptions;
  /**
   * Changes the matmul choice/tuning of this instance (benchmarks: `naive` baseline, sweeps).
   * Fields left out keep their current values, not the defaults.
   */
  setMatmulOptions(options: Partial<MatmulOptions>): void;
  /** The MLA decode kernel choice and tuning of this instance (a copy). */
  decodeOptions(): DecodeOptions;
  /**
   * Changes the decode kernel choice/tuning of this instance (benchmarks, tests of each kernel).
   * Fields left out keep their current values, not the defaults.
   */
  setDecodeOptions(options: Partial<DecodeOptions>): void;
  /** The kernel the last `mlaDecode` call of this instance ran (null before any, or when empty). */
  lastDecodeKernel(): DecodeKernelRun;
}

/**
 * Creates an instance on `gpu` (instances on one device share pipelines and the buffer pool).
 * `storage` forces a smaller buffer size or packed f16 (see `WebgpuMlaOptions`).
 */
export function createWebgpuMlaBackend(
  gpu: Gpu,
  adapter: WebGpuAdapterSummary,
  storage: StorageOptions & { decodeKernel?: DecodeOptions['kernel'] } = {},
): WebgpuMlaBackend {
  const o: Owner = { gpu, live: new Set(), layout: storageLayout(gpu, storage) };
  const t = (x: unknown, field: string) => arg(x as WebGpuTensor, field);
  let mm: MatmulState = { ...defaultMatmulOptions(adapter), texts: new Map() };
  let dec = defaultDecodeOptions(storage.decodeKernel);
  let lastKernel: DecodeKernelRun = null;
  checkDecodeOptions(dec);
  return {
    name: WEBGPU_MLA_NAME,
    capabilities: webgpuMlaCapabilities,
    adapter,
    layout: o.layout,
    wrapCommunicator: wrapHostCommunicator,
    streamCopy: (s, d) => streamCopy(o, t(s, 'streamCopy src'), t(d, 'streamCopy dst')),
    matmulOptions() {
      const { texts: _, ...options } = mm;
      return options;
    },
    setMatmulOptions(p) {
      const next = { ...mm, ...p, texts: mm.texts };
      checkMatmulOptions(next);
      mm = next;
    },
    decodeOptions: () => ({ ...dec }),
    setDecodeOptions(p) {
      const next = { ...dec, ...p };
      checkDecodeOptions(next);
      dec = next;
    },
    destroy() {
      for (const s of o.live) {
        s.disposed = true;
        releaseStorage(gpu, s);
      }
      o.live.clear();
    },
    alloc: (shape, dtype) => alloc(o, shape, dtype),
    upload: (data, shape, dtype) => upload(o, data, shape, dtype),
    write: (dst, data, offset) => write(o, t(dst, 'write dst'), data, offset),
    download: (x) => download(o, t(x, 'download')),
    dispose: (x) => dispose(o, t(x, 'dispose')),
    reshape: (x, shape) => reshape(t(x, 'reshape'), shape),
    sliceRows: (x, start, n) => sliceRows(t(x, 'sliceRows'), start, n),
    fill: (x, v) => fill(o, t(x, 'fill'), v),
    copyColumns: (s, sc, d, dc, w) => copyColumns(o, s, sc, d, dc, w),
    gatherRows: (s, i, d) => gatherRows(o, s, i, d),
    embedding: (i, tb, v0, out) => embedding(o, i, tb, v0, out),
    rmsNorm: (x, w, eps, out) => rmsNorm(o, x, w, eps, out),
    linear: (x, w, out) => linear(o, x, w, out, mm),
    headMatmul: (x, w, out, tr) => headMatmul(o, x, w, out, tr, mm),
    rope: (x, p, cs, r) => rope(o, x, p, cs, r),
    siluMul: (x, out) => siluMul(o, x, out),
    add: (a, b, out) => add(o, a, b, out),
    moeRoute: (l, r, ids, w) => moeRoute(o, l, r, ids, w),
    moeExperts: (x, ids, w, gu, dn, e0, out) => moeExperts(o, x, ids, w, gu, dn, e0, out, mm),
    argmax: (x, out) => argmax(o, x, out),
    writeKv: (a, b, s, c) => writeKv(o, a, b, s, c),
    gatherCache: (c, m, d) => gatherCache(o, c, m, d),
    mlaDecode: (q, c, m, s, out, lse) => {
      lastKernel = mlaDecode(o, q, c, m, s, out, lse, dec);
    },
    lastDecodeKernel: () => lastKernel,
    attention: (q, k, ks, v, m, s, out, lse) => attention(o, q, k, ks, v, m, s, out, lse),
    mergeAttnStates: (a, la, b, lb, out, ol) => mergeAttnStates(o, a, la, b, lb, out, ol),
    lseCorrect: (out, l, r, b, g) => lseCorrect(o, out, l, r, b, g),
    lsePack: (out, l, p) => lsePack(o, out, l, p),
    lseCombineA2a: (p, b, out, ol) => lseCombineA2a(o, p, b, out, ol),
    commBuffer: (x) => t(x, 'commBuffer'),
    fromCommBuffer(buf, shape, dtype: DType) {
      const b = t(buf, 'fromCommBuffer');
      if (b.dtype !== dtype)
        throw new TypeError(`fromCommBuffer: buffer holds ${b.dtype}, asked for ${dtype}`);
      if (numel(checkShape(shape, 'fromCommBuffer')) !== count(b)) {
        throw new RangeError(`fromCommBuffer: ${count(b)} elements cannot be [${shape.join(', ')}]`);
      }
      return makeTensor(b.storage, shape, dtype, b.offset, b.isView);
    },
  };
}

/**
 * Options of the descriptor and of `registerWebgpuMla`. From `StorageOptions`:
 * `maxSegmentBytes` splits tensors into buffers of at most that size (default: the adapter's
 * `maxStorageBufferBindingSize`; smaller values exercise the split cheaply in tests);
 * `f16Storage: 'packed'` keeps f16 outputs packed in u32 even where `shader-f16` exists.
 */
export interface WebgpuMlaOptions extends StorageOptions {
  /** Where the `GPU` object comes from (`navigator.gpu`, or Dawn in Node). */
  requestGpu: () => Promise<GPU | null | undefined> | GPU | null | undefined;
  /** The MLA decode kernel (see `DecodeOptions.kernel`). Default `'auto'`. */
  decodeKernel?: DecodeOptions['kernel'];
  /** Serve on a software adapter (lavapipe, SwiftShader). Default false: they are slower than cpu-mla. */
  allowSoftware?: boolean;
  /** Adapter preference. Default `'high-performance'`. */
  powerPreference?: GPUPowerPreference;
  /** Priority in the registry. Default 10 (above cpu-mla's 0). */
  priority?: number;
  /** Said when no adapter is found (how to get one on this platform). */
  noAdapterHint?: string;
}

interface Device {
  gpu: Gpu;
  adapter: WebGpuAdapterSummary;
}

/** Configuration checks beyond the capabilities. */
function validate(config: BackendConfig): string[] {
  const reasons: string[] = [];
  if (!(Number.isInteger(config.kvLoraRank) && config.kvLoraRank > 0))
    reasons.push(`kvLoraRank must be a positive integer, got ${config.kvLoraRank}`);
  if (!(Number.isInteger(config.ropeDim) && config.ropeDim >= 0 && config.ropeDim % 2 === 0))
    reasons.push(`ropeDim must be an even non-negative integer, got ${config.ropeDim}`);
  if (!(Number.isInteger(config.blockSize) && config.blockSize > 0))
    reasons.push(`blockSize must be a positive integer, got ${config.blockSize}`);
  return reasons;
}

/**
 * The descriptor. Its factory requests the adapter and device once (shared by every instance it
 * creates, e.g. several ranks on one adapter) and rejects with the reason when there is none.
 */
export function webgpuMlaDescriptor(opts: WebgpuMlaOptions): Omit<
  BackendDescriptor<WebGpuTensor, WebGpuTensor>,
  'create'
> & {
  /** Creates an instance on the shared device. */
  create(options?: BackendCreateOptions): Promise<WebgpuMlaBackend>;
  /** The adapter summary, or rejects with why there is none. */
  probe(): Promise<WebGpuAdapterSummary>;
  /** Destroys the shared device (instances become unusable). */
  close(): Promise<void>;
} {
  let device: Promise<Device> | null = null;
  const open = async (): Promise<Device> => {
    const gpu = await opts.requestGpu();
    if (!gpu)
      throw new Error(`WebGPU is not available here${opts.noAdapterHint ? ` (${opts.noAdapterHint})` : ''}`);
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new Error(`no WebGPU adapter${opts.noAdapterHint ? ` (${opts.noAdapterHint})` : ''}`);
    const summary = describeAdapter(adapter);
    const dev = await requestDevice(adapter);
    return { gpu: createGpu(dev, summary, gpu), adapter: summary };
  };
  const get = () => {
    device ??= open();
    return device;
  };
  return {
    name: WEBGPU_MLA_NAME,
    priority: opts.priority ?? 10,
    capabilities: webgpuMlaCapabilities,
    validateConfiguration: validate,
    async create() {
      const d = await get();
      if (d.adapter.software && opts.allowSoftware !== true) {
        throw new Error(
          `only a software adapter (${d.adapter.description || d.adapter.architecture}) is available; it is slower than cpu-mla (register with allowSoftware: true to use it anyway)`,
        );
      }
      return createWebgpuMlaBackend(d.gpu, d.adapter, opts);
    },
    probe: async () => (await get()).adapter,
    async close() {
      if (!device) return;
      const d = await device.catch(() => null);
      device = null;
      if (d) {
        flush(d.gpu);
        drainPool(d.gpu);
        d.gpu.device.destroy();
      }
    },
  };
}

/** Adds the backend to `registry` with `opts` (the platform entry supplies `requestGpu`). */
export function registerWithGpu(registry: BackendRegistry, opts: WebgpuMlaOptions): void {
  registry.register(webgpuMlaDescriptor(opts));
}
