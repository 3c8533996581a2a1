/**
 * The part of the `@dcp/backend` op contract this package implements so far: memory, the paged
 * latent cache (write, gather), MLA decode with LSE and the DCP merge kernels. Dense layer ops
 * (linear, norms, MoE, rope, prefill attention) come in a later part; until then the backend
 * descriptor reports itself as not servable (see `descriptor.ts`).
 */
import type { BackendOps, DecodeMeta, DType, GatherCacheMeta, HostData } from '@dcp/backend';
import { dtypeBytes, numberToBf16, numel } from '@dcp/backend';
import type { DeviceView } from './buffer.js';
import * as attn from './ops-attention.js';
import * as merge from './ops-merge.js';
import type { CudaRank } from './rank.js';
import { type CudaTensor, checkShape, expect, tensorBytes, viewOf } from './tensor.js';

/** Contract ops implemented in this part. */
export type CudaMlaOpNames =
  | 'alloc'
  | 'upload'
  | 'write'
  | 'download'
  | 'dispose'
  | 'reshape'
  | 'sliceRows'
  | 'fill'
  | 'copyColumns'
  | 'gatherRows'
  | 'writeKv'
  | 'gatherCache'
  | 'mlaDecode'
  | 'lseCorrect'
  | 'lsePack'
  | 'lseCombineA2a'
  | 'commBuffer'
  | 'fromCommBuffer';

function hostArray(dtype: DType, n: number): HostData {
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
}

function checkHost(data: HostData, dtype: DType, field: string): void {
  const ok =
    dtype === 'f32'
      ? data instanceof Float32Array
      : dtype === 'i32'
        ? data instanceof Int32Array
        : data instanceof Uint16Array;
  if (!ok) throw new TypeError(`${field}: ${dtype} data must be a ${hostArray(dtype, 0).constructor.name}`);
}

function maxOf(data: HostData): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) if (data[i]! > m) m = data[i]!;
  return m;
}

/** What `commBuffer` hands a communicator: the device range plus its dtype and size. */
export interface CudaCommBuffer extends DeviceView {
  readonly bytes: number;
  readonly dtype: DType;
}

function bitsOf(value: number, dtype: DType): number {
  if (dtype === 'i32') {
    if (!Number.isInteger(value)) throw new RangeError(`fill: i32 value must be an integer, got ${value}`);
    return value >>> 0;
  }
  const u = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  return dtype === 'f32' ? u : numberToBf16(value);
}

/**
 * The contract ops above on one `CudaRank`: bf16 or f32 data, f32 LSE, i32 metadata. bf16 at the
 * DeepSeek widths (576 = 512 + 64) runs the tuned kernels; every other width or dtype runs the
 * generic ones (correct, not tuned).
 */
export class CudaMlaOps implements Pick<BackendOps<CudaTensor, CudaCommBuffer>, CudaMlaOpNames> {
  readonly rank: CudaRank;
  constructor(rank: CudaRank) {
    this.rank = rank;
  }

  alloc(shape: readonly number[], dtype: DType): CudaTensor {
    checkShape(shape, 'alloc');
    const bytes = Math.max(16, numel(shape) * dtypeBytes(dtype));
    return { shape: [...shape], dtype, buffer: this.rank.alloc(bytes), byteOffset: 0, owner: true };
  }

  upload(data: HostData, shape: readonly number[], dtype: DType): CudaTensor {
    checkShape(shape, 'upload');
    if (data.length !== numel(shape)) {
      throw new RangeError(
        `upload: data has ${data.length} elements, shape [${shape.join(', ')}] needs ${numel(shape)}`,
      );
    }
    const t = this.alloc(shape, dtype);
    this.write(t, data);
    return t;
  }

  write(dst: CudaTensor, data: HostData, offset = 0): void {
    checkHost(data, dst.dtype, 'write');
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > numel(dst.shape)) {
      throw new RangeError(
        `write: ${data.length} elements at offset ${offset} exceed the tensor's ${numel(dst.shape)}`,
      );
    }
    const eb = dtypeBytes(dst.dtype);
    this.rank.upload({ buffer: dst.buffer, byteOffset: dst.byteOffset + offset * eb }, data);
    if (dst.dtype === 'i32') {
      dst.hostMax = offset === 0 && data.length === numel(dst.shape) ? maxOf(data) : undefined;
    }
  }

  async download(t: CudaTensor): Promise<HostData> {
    const out = hostArray(t.dtype, numel(t.shape));
    if (out.length === 0) return out;
    return this.rank.download(viewOf(t), out);
  }

  dispose(t: CudaTensor): void {
    if (t.owner) t.buffer.dispose();
  }

  reshape(t: CudaTensor, shape: readonly number[]): CudaTensor {
    checkShape(shape, 'reshape');
    if (numel(shape) !== numel(t.shape)) {
      throw new RangeError(`reshape: [${t.shape.join(', ')}] cannot become [${shape.join(', ')}]`);
    }
    return { ...t, shape: [...shape], owner: false };
  }

  sliceRows(t: CudaTensor, start: number, count: number): CudaTensor {
    const rows = t.shape[0] ?? 0;
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > rows
    ) {
      throw new RangeError(`sliceRows: rows [${start}, ${start + count}) outside [0, ${rows})`);
    }
    const rowBytes = tensorBytes(t) / Math.max(1, rows);
    return {
      shape: [count, ...t.shape.slice(1)],
      dtype: t.dtype,
      buffer: t.buffer,
      byteOffset: t.byteOffset + start * rowBytes,
      owner: false,
    };
  }

  fill(t: CudaTensor, value: number): void {
    this.rank.invoke('fillPattern', {
      dst: viewOf(t),
      count: numel(t.shape),
      elemBytes: dtypeBytes(t.dtype),
      bits: bitsOf(value, t.dtype),
    });
  }

  copyColumns(src: CudaTensor, srcCol: number, dst: CudaTensor, dstCol: number, width: number): void {
    const srcCols = src.shape[src.shape.length - 1] ?? 1;
    const dstCols = dst.shape[dst.shape.length - 1] ?? 1;
    const rows = srcCols === 0 ? 0 : numel(src.shape) / srcCols;
    if (dstCols * rows !== numel(dst.shape)) {
      throw new RangeError(
        `copyColumns: src has ${rows} rows of ${srcCols}, dst [${dst.shape.join(', ')}] does not`,
      );
    }
    this.rank.invoke('copyColumns', {
      src: viewOf(src),
      dst: viewOf(dst),
      rows,
      srcCols,
      dstCols,
      srcCol,
      dstCol,
      width,
      srcDtype: src.dtype,
      dstDtype: dst.dtype,
    });
  }

  gatherRows(src: CudaTensor, indices: CudaTensor, dst: CudaTensor): void {
    expect(indices, 'gatherRows.indices', 'i32', null);
    if (src.dtype !== dst.dtype)
      throw new TypeError(`gatherRows: dst dtype ${dst.dtype} must equal src ${src.dtype}`);
    const cols = src.shape[src.shape.length - 1] ?? 1;
    const n = numel(indices.shape);
    if (numel(dst.shape) !== n * cols) throw new RangeError(`gatherRows.dst: must be [${n}, ${cols}]`);
    this.rank.invoke('gatherRows', {
      src: viewOf(src),
      indices: viewOf(indices),
      dst: viewOf(dst),
      n,
      srcRows: cols === 0 ? 0 : numel(src.shape) / cols,
      cols,
      elemBytes: dtypeBytes(src.dtype),
    });
  }

  writeKv(kvC: CudaTensor, kPe: CudaTensor, slotMapping: CudaTensor, cache: CudaTensor): void {
    attn.writeKv(this.rank, kvC, kPe, slotMapping, cache);
  }

  gatherCache(cache: CudaTensor, meta: GatherCacheMeta, dst: CudaTensor): void {
    attn.gatherCache(this.rank, cache, meta, dst);
  }

  mlaDecode(
    q: CudaTensor,
    cache: CudaTensor,
    meta: DecodeMeta,
    scale: number,
    out: CudaTensor,
    lse: CudaTensor,
  ): void {
    attn.mlaDecode(this.rank, q, cache, meta, scale, out, lse);
  }

  lseCorrect(
    out: CudaTensor,
    lses: CudaTensor,
    rank: number,
    base: 'e' | '2',
    globalLse: CudaTensor | null,
  ): void {
    merge.lseCorrect(this.rank, out, lses, rank, base, globalLse);
  }

  lsePack(out: CudaTensor, lse: CudaTensor, packed: CudaTensor): void {
    merge.lsePack(this.rank, out, lse, packed);
  }

  lseCombineA2a(packed: CudaTensor, base: 'e' | '2', out: CudaTensor, outLse: CudaTensor | null): void {
    merge.lseCombineA2a(this.rank, packed, base, out, outLse);
  }

  commBuffer(t: CudaTensor): CudaCommBuffer {
    return { buffer: t.buffer, byteOffset: t.byteOffset, bytes: tensorBytes(t), dtype: t.dtype };
  }

  fromCommBuffer(buf: DeviceView, shape: readonly number[], dtype: DType): CudaTensor {
    checkShape(shape, 'fromCommBuffer');
    const need = numel(shape) * dtypeBytes(dtype);
    if (buf.byteOffset + need > buf.buffer.bytes) {
      throw new RangeError(
        `fromCommBuffer: [${shape.join(', ')}] ${dtype} needs ${need} bytes, the buffer has ${buf.buffer.bytes - buf.byteOffset}`,
      );
    }
    return {
      shape: [...shape],
      dtype,
      buffer: buf.buffer,
      byteOffset: buf.byteOffset,
      owner: buf.byteOffset === 0,
    };
  }
}
