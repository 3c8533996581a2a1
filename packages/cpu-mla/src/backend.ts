/**
 * The `cpu-mla` backend: descriptor, instance factory and registration.
 */
import type {
  AttentionBackend,
  BackendCapabilities,
  BackendConfig,
  BackendDescriptor,
  BackendRegistry,
  DType,
  HostData,
  Tensor,
} from '@dcp/backend';
import { numel } from '@dcp/backend';
import { mergeAttnStates, mlaDecode } from './attention.js';
import { gatherCache, writeKv } from './cache.js';
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
import { lseCombineA2a, lseCorrect, lsePack } from './merge.js';
import { moeExperts, moeRoute } from './moe.js';
import { attention } from './prefill.js';
import { Scratch } from './scratch.js';
import { arg, type CpuTensor, checkDType, checkShape, hostKind, wrap, zeros } from './tensor.js';

/** Name under which the backend registers. */
export const CPU_MLA_NAME = 'cpu-mla';

/** What the reference backend supports: every dtype, block size, width and interleave. */
export const cpuMlaCapabilities: BackendCapabilities = {
  dtypes: ['f32', 'bf16', 'f16'],
  kvCacheDtypes: ['f32', 'bf16', 'f16'],
  blockSizes: [{ multipleOf: 1 }],
  latentWidths: 'any',
  returnsDecodeLse: true,
  decodeLseBase: 'e',
  multiTokenDecode: true,
  interleaveSizes: 'any',
  needsGpu: false,
};

/** Configuration checks beyond the capabilities (shapes that make no sense at all). */
function validate(config: BackendConfig): string[] {
  const reasons: string[] = [];
  if (!(Number.isInteger(config.kvLoraRank) && config.kvLoraRank > 0))
    reasons.push(`kvLoraRank must be a positive integer, got ${config.kvLoraRank}`);
  if (!(Number.isInteger(config.ropeDim) && config.ropeDim >= 0 && config.ropeDim % 2 === 0)) {
    reasons.push(`ropeDim must be an even non-negative integer, got ${config.ropeDim}`);
  }
  if (!(Number.isInteger(config.blockSize) && config.blockSize > 0))
    reasons.push(`blockSize must be a positive integer, got ${config.blockSize}`);
  return reasons;
}

/** The CPU tensor type and host buffer this backend uses. */
export type CpuMlaBackend = AttentionBackend<CpuTensor, HostData>;

/** Creates a backend instance (one per rank; instances share nothing). */
export function createCpuMlaBackend(): CpuMlaBackend {
  const s = new Scratch();
  return {
    name: CPU_MLA_NAME,
    capabilities: cpuMlaCapabilities,
    destroy: () => s.clear(),
    alloc: (shape, dtype) => zeros(shape, dtype),
    upload(data, shape, dtype) {
      checkDType(dtype, 'upload');
      if (data.constructor.name !== hostKind(dtype)) {
        throw new TypeError(
          `upload: dtype ${dtype} takes a ${hostKind(dtype)}, got ${data.constructor.name}`,
        );
      }
      if (data.length !== numel(checkShape(shape, 'upload'))) {
        throw new RangeError(
          `upload: shape [${shape.join(', ')}] needs ${numel(shape)} elements, got ${data.length}`,
        );
      }
      return wrap(data.slice() as HostData, shape, dtype);
    },
    write(dst, data, offset = 0) {
      const d = arg(dst, 'write dst');
      if (data.constructor.name !== d.data.constructor.name) {
        throw new TypeError(
          `write: ${d.dtype} tensor takes a ${d.data.constructor.name}, got ${data.constructor.name}`,
        );
      }
      if (!(Number.isInteger(offset) && offset >= 0 && offset + data.length <= d.data.length)) {
        throw new RangeError(
          `write: offset ${offset} + ${data.length} elements exceed the tensor's ${d.data.length}`,
        );
      }
      d.data.set(data as never, offset);
    },
    download: async (t) => arg(t, 'download').data.slice() as HostData,
    dispose(t) {
      const c = arg(t, 'dispose');
      if (c.isView) throw new Error('dispose: dispose the tensor this view was made from, not the view');
      c.storage.disposed = true;
    },
    reshape(t, shape) {
      const c = arg(t, 'reshape');
      if (numel(checkShape(shape, 'reshape')) !== c.data.length) {
        throw new RangeError(`reshape: [${c.shape.join(', ')}] cannot become [${shape.join(', ')}]`);
      }
      return wrap(c.data, shape, c.dtype, c.storage, true);
    },
    sliceRows(t, start, count) {
      const c = arg(t, 'sliceRows');
      const rows = c.shape[0] ?? 0;
      if (
        !(
          Number.isInteger(start) &&
          Number.isInteger(count) &&
          start >= 0 &&
          count >= 0 &&
          start + count <= rows
        )
      ) {
        throw new RangeError(`sliceRows: rows [${start}, ${start + count}) outside [0, ${rows})`);
      }
      const per = rows === 0 ? 0 : c.data.length / rows;
      return wrap(
        c.data.subarray(start * per, (start + count) * per) as HostData,
        [count, ...c.shape.slice(1)],
        c.dtype,
        c.storage,
        true,
      );
    },
    fill(t, value) {
      const c = arg(t, 'fill');
      if (c.dtype === 'f32' || c.dtype === 'i32') c.data.fill(value);
      else {
        const tmp = zeros([1], c.dtype);
        copyColumns(wrap(new Float32Array([value]), [1, 1], 'f32'), 0, tmp, 0, 1);
        c.data.fill(tmp.data[0]!);
      }
    },
    copyColumns,
    gatherRows,
    embedding: (ids, table, vocabStart, out) => embedding(ids, table, vocabStart, out, s),
    rmsNorm,
    linear: (x, w, out) => linear(x, w, out, s),
    headMatmul: (x, w, out, transposeW) => headMatmul(x, w, out, transposeW, s),
    rope: (x, positions, cosSin, o) => rope(x, positions, cosSin, o, s),
    siluMul,
    add,
    moeRoute,
    moeExperts: (x, ids, weights, gateUp, down, expertStart, out) =>
      moeExperts(x, ids, weights, gateUp, down, expertStart, out, s),
    argmax,
    writeKv: (kvC, kPe, slotMapping, cache) => writeKv(kvC, kPe, slotMapping, cache, s),
    gatherCache,
    mlaDecode: (q, cache, meta, scale, out, lse) => mlaDecode(q, cache, meta, scale, out, lse, s),
    attention: (q, k, kShared, v, meta, scale, out, lse) =>
      attention(q, k, kShared, v, meta, scale, out, lse, s),
    mergeAttnStates,
    lseCorrect,
    lsePack,
    lseCombineA2a: (packed, base, out, outLse) => lseCombineA2a(packed, base, out, outLse, s),
    commBuffer: (t) => arg(t, 'commBuffer').data,
    fromCommBuffer: (buf: HostData, shape: readonly number[], dtype: DType) => wrap(buf, shape, dtype),
  };
}

/** The descriptor `registerCpuMla` adds (priority 0: any GPU backend that fits wins). */
export const cpuMlaDescriptor: BackendDescriptor<CpuTensor, HostData> = {
  name: CPU_MLA_NAME,
  priority: 0,
  capabilities: cpuMlaCapabilities,
  validateConfiguration: validate,
  create: () => createCpuMlaBackend(),
};

/** Registers `cpu-mla` in `registry`. */
export function registerCpuMla(registry: BackendRegistry): void {
  registry.register(cpuMlaDescriptor);
}

/** Type guard: whether `t` is a tensor of this backend. */
export function isCpuTensor(t: Tensor): t is CpuTensor {
  return (t as CpuTensor).storage !== undefined && (t as CpuTensor).data !== undefined;
}
