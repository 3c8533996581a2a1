/**
 * Runs `@dcp/backend/testing`'s conformance suite on a GPU against this package's ops. The ops
 * the package does not implement yet (dense layers, MoE, prefill attention) are filtered out
 * with that reason; their slots in the instance throw if anything calls them. DCP cases move
 * device buffers through in-process host communicators (download → collective → upload).
 */
import type { AttentionBackend, BackendDescriptor, DType } from '@dcp/backend';
import { type ConformanceFilter, type ConformanceReport, runConformance } from '@dcp/backend/testing';
import { type Communicator, createLocalCommunicators, type HostArray } from '@dcp/parallel-state';
import { FLASHMLA_CUDA, flashMlaCudaCapabilities, MISSING_OPS } from '../descriptor.js';
import { type CudaCommBuffer, CudaMlaOps } from '../ops.js';
import type { CudaRank } from '../rank.js';
import type { CudaTensor } from '../tensor.js';

/** Cases skipped, each with why. */
export const CONFORMANCE_FILTERS: readonly ConformanceFilter[] = [
  { match: 'dense/', reason: 'dense layer ops are part 3 of the CUDA backend (not implemented yet)' },
  { match: 'moe/', reason: 'MoE ops are part 3 of the CUDA backend (not implemented yet)' },
  { match: 'attention/varlen', reason: 'prefill (varlen) attention is part 3 of the CUDA backend' },
  { match: 'attention/mergeAttnStates', reason: 'mergeAttnStates belongs to prefill, part 3' },
  { match: 'dcp/prefill-with-context', reason: 'needs prefill (varlen) attention, part 3' },
];

function instance(rank: CudaRank): AttentionBackend<CudaTensor, CudaCommBuffer> {
  const ops = new CudaMlaOps(rank);
  const b: Record<string, unknown> = {
    name: FLASHMLA_CUDA,
    capabilities: flashMlaCudaCapabilities,
    destroy() {},
  };
  for (const op of MISSING_OPS) {
    b[op] = () => {
      throw new Error(`${FLASHMLA_CUDA}: ${op} is not implemented yet`);
    };
  }
  const proto = CudaMlaOps.prototype as unknown as Record<string, (...args: never) => unknown>;
  for (const name of Object.getOwnPropertyNames(CudaMlaOps.prototype)) {
    if (name !== 'constructor' && typeof proto[name] === 'function') b[name] = proto[name].bind(ops);
  }
  return b as unknown as AttentionBackend<CudaTensor, CudaCommBuffer>;
}

function hostOf(dtype: DType, n: number): HostArray {
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
}

/** In-process communicators over device buffers of one rank (a host round trip per collective). */
export function deviceCommunicators(rank: CudaRank, size: number): Communicator<CudaCommBuffer>[] {
  const host = createLocalCommunicators(size);
  const down = async (b: CudaCommBuffer) => {
    const eb = b.dtype === 'bf16' ? 2 : 4;
    return rank.download({ buffer: b.buffer, byteOffset: b.byteOffset }, hostOf(b.dtype, b.bytes / eb));
  };
  const up = (a: HostArray, dtype: DType): CudaCommBuffer => {
    const buffer = rank.alloc(Math.max(16, a.byteLength));
    rank.upload(buffer, a);
    return { buffer, byteOffset: 0, bytes: a.byteLength, dtype };
  };
  return host.map((c) => ({
    rank: c.rank,
    size: c.size,
    allGather: async (x, shape, dim) => up(await c.allGather(await down(x), shape, dim), x.dtype),
    reduceScatter: async (x, shape, dim, op) =>
      up(await c.reduceScatter(await down(x), shape, dim, op), x.dtype),
    allReduce: async (x, op) => up(await c.allReduce(await down(x), op), x.dtype),
    allToAll: async (x, shape, dim) => up(await c.allToAll(await down(x), shape, dim), x.dtype),
    broadcast: async (x, root) => up(await c.broadcast(await down(x), root), x.dtype),
    barrier: () => c.barrier(),
    send: async () => {
      throw new Error('deviceCommunicators: send is not needed by the suite');
    },
    recv: async () => {
      throw new Error('deviceCommunicators: recv is not needed by the suite');
    },
  })) as Communicator<CudaCommBuffer>[];
}

/** Runs the conformance suite on `rank` (skipping `CONFORMANCE_FILTERS`, with their reasons). */
export function runConformanceOnGpu(rank: CudaRank, seed = 1234): Promise<ConformanceReport> {
  const descriptor: BackendDescriptor<CudaTensor, CudaCommBuffer> = {
    name: FLASHMLA_CUDA,
    priority: 100,
    capabilities: flashMlaCudaCapabilities,
    create: () => instance(rank),
  };
  return runConformance({
    descriptor,
    filters: CONFORMANCE_FILTERS,
    communicators: (size) => deviceCommunicators(rank, size),
    config: { gpuAvailable: true },
    seed,
  });
}
