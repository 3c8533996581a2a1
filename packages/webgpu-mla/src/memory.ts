/**
 * Memory ops: alloc, upload, write, download, views, fill, dispose.
 */
import type { DType, HostData } from '@dcp/backend';
import { dtypeBytes, numel } from '@dcp/backend';
import { encoder, type Gpu, opEncoded, pipelineFor, readBack, releaseBuffer, stageWrite } from './gpu.js';
import { run } from './run.js';
import { newStorage, wordRanges } from './segments.js';
import {
  checkDType,
  checkShape,
  count,
  hostKind,
  makeTensor,
  type Owner,
  type Storage,
  type WebGpuTensor,
} from './tensor.js';

/**
 * A zero-filled tensor. One larger than a storage binding is split over several buffers of whole
 * dim-0 rows (`segments.ts`); it is refused, naming the limit, when a kernel could not bind them.
 */
export function alloc(owner: Owner, shape: readonly number[], dtype: DType, field = 'alloc'): WebGpuTensor {
  checkShape(shape, field);
  checkDType(dtype, field);
  const storage = newStorage(owner, shape, dtype, field);
  owner.live.add(storage);
  return makeTensor(storage, shape, dtype);
}

/** Returns the buffers of `s` to the pool. */
export function releaseStorage(gpu: Gpu, s: Storage): void {
  for (const b of s.buffers) releaseBuffer(gpu, b);
}

function checkHost(data: HostData, dtype: DType, field: string): void {
  if (data?.constructor?.name !== hostKind(dtype)) {
    throw new TypeError(
      `${field}: dtype ${dtype} takes a ${hostKind(dtype)}, got ${data?.constructor?.name}`,
    );
  }
}

/** Writes whole words of host data at a byte offset (pads a trailing half word with zeros). */
function writeWords(owner: Owner, s: Storage, byteOffset: number, data: HostData): void {
  const bytes = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const start = byteOffset / 4;
  wordRanges(s, start, start + bytes.byteLength / 4, (seg, from, to, done) => {
    const part = bytes.subarray(done * 4, done * 4 + (to - from) * 4);
    stageWrite(owner.gpu, s.buffers[seg]!, from * 4, part);
  });
}

/** A tensor holding `data`. */
export function upload(owner: Owner, data: HostData, shape: readonly number[], dtype: DType): WebGpuTensor {
  checkDType(dtype, 'upload');
  checkHost(data, dtype, 'upload');
  if (data.length !== numel(checkShape(shape, 'upload'))) {
    throw new RangeError(
      `upload: shape [${shape.join(', ')}] needs ${numel(shape)} elements, got ${data.length}`,
    );
  }
  const t = alloc(owner, shape, dtype, 'upload');
  writeWords(owner, t.storage, 0, data);
  return t;
}

/** Overwrites `dst` from element `offset` with `data`. */
export function write(owner: Owner, dst: WebGpuTensor, data: HostData, offset = 0): void {
  checkHost(data, dst.dtype, 'write');
  if (!(Number.isInteger(offset) && offset >= 0 && offset + data.length <= count(dst))) {
    throw new RangeError(
      `write: offset ${offset} + ${data.length} elements exceed the tensor's ${count(dst)}`,
    );
  }
  const bpe = dtypeBytes(dst.dtype);
  const start = (dst.offset + offset) * bpe;
  if (start % 4 === 0 && data.byteLength % 4 === 0) {
    writeWords(owner, dst.storage, start, data);
    return;
  }
  // Unaligned 16-bit range: upload, then copy element by element.
  const tmp = upload(owner, data, [data.length], dst.dtype);
  const view = makeTensor(dst.storage, [data.length], dst.dtype, dst.offset + offset, true);
  run(owner, [
    {
      binds: [
        { name: 's', t: tmp },
        { name: 'd', t: view, access: 'write' },
      ],
      body: '  st_d(i, ld_s(i));',
      threads: data.length,
    },
  ]);
  dispose(owner, tmp);
}

/** Words `[start, end)` of `s`, read back after all queued work. */
async function readWords(gpu: Gpu, s: Storage, start: number, end: number): Promise<ArrayBuffer> {
  if (s.buffers.length === 1) return readBack(gpu, s.buffers[0]!, start * 4, (end - start) * 4);
  const out = new Uint8Array((end - start) * 4);
  const parts: Promise<void>[] = [];
  wordRanges(s, start, end, (seg, from, to, done) => {
    parts.push(
      readBack(gpu, s.buffers[seg]!, from * 4, (to - from) * 4).then((b) =>
        out.set(new Uint8Array(b), done * 4),
      ),
    );
  });
  await Promise.all(parts);
  return out.buffer;
}

/** Copies `t` to the host after all queued work. */
export async function download(owner: Owner, t: WebGpuTensor): Promise<HostData> {
  const gpu = owner.gpu;
  const bpe = dtypeBytes(t.dtype);
  const n = count(t);
  const start = Math.floor((t.offset * bpe) / 4) * 4;
  const end = Math.ceil(((t.offset + n) * bpe) / 4) * 4;
  const bytes = await readWords(gpu, t.storage, start / 4, end / 4);
  if (gpu.error) {
    const e = gpu.error;
    gpu.error = null;
    throw new Error(e);
  }
  const skip = t.offset - start / bpe;
  if (t.dtype === 'f32') return new Float32Array(bytes, 0, n).slice();
  if (t.dtype === 'i32') return new Int32Array(bytes, 0, n).slice();
  return new Uint16Array(bytes, skip * 2, n).slice();
}

/** Releases a tensor's buffer to the pool. */
export function dispose(owner: Owner, t: WebGpuTensor): void {
  if (t.isView) throw new Error('dispose: dispose the tensor this view was made from, not the view');
  if (t.storage.disposed) return;
  t.storage.disposed = true;
  t.storage.owner.live.delete(t.storage);
  releaseStorage(owner.gpu, t.storage);
}

/** A view with another shape of the same element count. */
export function reshape(t: WebGpuTensor, shape: readonly number[]): WebGpuTensor {
  if (numel(checkShape(shape, 'reshape')) !== count(t)) {
    throw new RangeError(`reshape: [${t.shape.join(', ')}] cannot become [${shape.join(', ')}]`);
  }
  return makeTensor(t.storage, shape, t.dtype, t.offset, true);
}

/** A view of rows `[start, start + n)` along dim 0. */
export function sliceRows(t: WebGpuTensor, start: number, n: number): WebGpuTensor {
  const rows = t.shape[0] ?? 0;
  if (!(Number.isInteger(start) && Number.isInteger(n) && start >= 0 && n >= 0 && start + n <= rows)) {
    throw new RangeError(`sliceRows: rows [${start}, ${start + n}) outside [0, ${rows})`);
  }
  const inner = rows === 0 ? 0 : count(t) / rows;
  return makeTensor(t.storage, [n, ...t.shape.slice(1)], t.dtype, t.offset + start * inner, true);
}

/** Sets every element to `value`. */
export function fill(owner: Owner, t: WebGpuTensor, value: number): void {
  if (typeof value !== 'number') throw new TypeError(`fill value: must be a number, got ${typeof value}`);
  const int = t.dtype === 'i32';
  run(owner, [
    {
      binds: [{ name: 'd', t, access: 'write' }],
      params: [['v', int ? 'i' : 'f', value]],
      body: '  st_d(i, p_v());',
      threads: count(t),
    },
  ]);
}

const COPY_WGSL = `@group(0) @binding(0) var<storage, read> s: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> d: array<vec4<u32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.x + g.y * n.x * 256u;
  if (i < arrayLength(&d)) { d[i] = s[i]; }
}`;

/**
 * Copies all of `src`'s buffer into `dst`'s (same allocation size), 16 bytes per invocation:
 * the plainest streaming kernel, used as the bandwidth ceiling in benchmarks.
 */
export function streamCopy(owner: Owner, src: WebGpuTensor, dst: WebGpuTensor): void {
  if (src.storage.buffers.length !== 1 || dst.storage.buffers.length !== 1) {
    throw new RangeError('streamCopy: src and dst must each fit in one storage binding');
  }
  const a = src.storage.buffers[0]!;
  const b = dst.storage.buffers[0]!;
  if (a.size !== b.size || a === b || src.isView || dst.isView) {
    throw new RangeError(
      'streamCopy: src and dst must be distinct whole tensors of the same allocation size',
    );
  }
  const gpu = owner.gpu;
  const pipeline = pipelineFor(gpu, COPY_WGSL);
  const group = gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: a } },
      { binding: 1, resource: { buffer: b } },
    ],
  });
  const groups = Math.ceil(b.size / 16 / 256);
  const pass = encoder(gpu).beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  const x = Math.min(groups, 65535);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x), 1);
  pass.end();
  opEncoded(gpu);
}
