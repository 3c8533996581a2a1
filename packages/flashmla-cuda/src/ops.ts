/**
 * The part of the `@dcp/backend` op contract this package implements so far: memory, the paged
 * latent cache (write, gather), MLA decode with LSE and the DCP merge kernels. Dense layer ops
 * (linear, norms, MoE, rope, prefill attention) come in a later part; until then the backend
 * descriptor reports itself as not servable (see `descriptor.ts`).
 */
import type { BackendOps, DecodeMeta, DType, GatherCacheMeta, HostData } from '@dcp/backend';
import { dtypeBytes, numberToBf16, numel } from '@dcp/backend';
import type { DeviceView } from './buffer.js';
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

const LATENT = 576;
const KV_LORA = 512;
const ROPE = 64;

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

const isFloat = (d: DType) => d === 'f32' || d === 'bf16';

function floatOnly(t: CudaTensor, field: string): void {
  if (!isFloat(t.dtype)) throw new TypeError(`${field}: dtype must be f32 or bf16, got ${t.dtype}`);
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
    expect(slotMapping, 'writeKv.slotMapping', 'i32', null);
    const n = numel(slotMapping.shape);
    floatOnly(kvC, 'writeKv.kvC');
    floatOnly(kPe, 'writeKv.kPe');
    floatOnly(cache, 'writeKv.cache');
    if (kPe.dtype !== kvC.dtype)
      throw new TypeError(`writeKv.kPe: dtype ${kPe.dtype} must equal kvC's ${kvC.dtype}`);
    expect(cache, 'writeKv.cache', cache.dtype, [null, null, null]);
    const width = cache.shape[2]!;
    const l = n === 0 ? 0 : numel(kvC.shape) / n;
    const r = n === 0 ? 0 : numel(kPe.shape) / n;
    if (n > 0 && (!Number.isInteger(l) || !Number.isInteger(r) || l + r !== width)) {
      throw new RangeError(
        `writeKv: kvC [${kvC.shape.join(', ')}] + kPe [${kPe.shape.join(', ')}] rows must fill the cache width ${width}`,
      );
    }
    const numSlots = cache.shape[0]! * cache.shape[1]!;
    const slots = viewOf(slotMapping);
    if (kvC.dtype === 'bf16' && cache.dtype === 'bf16' && l === KV_LORA && r === ROPE) {
      this.rank.kvWrite({
        kvC: viewOf(kvC),
        kPe: viewOf(kPe),
        slots,
        cache: viewOf(cache),
        tokens: n,
        numSlots,
      });
      return;
    }
    if (n === 0) return;
    this.rank.invoke('genericKvWrite', {
      kvC: viewOf(kvC),
      kPe: viewOf(kPe),
      slots,
      cache: viewOf(cache),
      tokens: n,
      numSlots,
      kvWidth: l,
      peWidth: r,
      inDtype: kvC.dtype,
      cacheDtype: cache.dtype,
    });
  }

  gatherCache(cache: CudaTensor, meta: GatherCacheMeta, dst: CudaTensor): void {
    floatOnly(cache, 'gatherCache.cache');
    expect(cache, 'gatherCache.cache', cache.dtype, [null, null, null]);
    const width = cache.shape[2]!;
    const bt = meta.blockTable as CudaTensor;
    expect(bt, 'gatherCache.blockTable', 'i32', [null, null]);
    const batch = bt.shape[0]!;
    expect(meta.cuSeqLens as CudaTensor, 'gatherCache.cuSeqLens', 'i32', [batch + 1]);
    if (meta.seqStarts) expect(meta.seqStarts as CudaTensor, 'gatherCache.seqStarts', 'i32', [batch]);
    expect(dst, 'gatherCache.dst', cache.dtype, null);
    if (width === 0 || numel(dst.shape) % width !== 0) {
      throw new RangeError(`gatherCache.dst: rows must be ${width} wide`);
    }
    const args = {
      cache: viewOf(cache),
      dst: viewOf(dst),
      blockTable: viewOf(bt),
      cuSeqLens: viewOf(meta.cuSeqLens as CudaTensor),
      batch,
      totalTokens: numel(dst.shape) / width,
      numBlocks: cache.shape[0]!,
      blockSize: cache.shape[1]!,
      maxBlocksPerSeq: Math.max(1, bt.shape[1]!),
    };
    const full = meta.seqStarts ? { ...args, seqStarts: viewOf(meta.seqStarts as CudaTensor) } : args;
    if (cache.dtype === 'bf16' && width === LATENT) this.rank.contextGather(full);
    else this.rank.invoke('genericGather', { ...full, width, dtype: cache.dtype });
  }

  mlaDecode(
    q: CudaTensor,
    cache: CudaTensor,
    meta: DecodeMeta,
    scale: number,
    out: CudaTensor,
    lse: CudaTensor,
  ): void {
    floatOnly(q, 'mlaDecode.q');
    floatOnly(cache, 'mlaDecode.cache');
    floatOnly(out, 'mlaDecode.out');
    expect(cache, 'mlaDecode.cache', cache.dtype, [null, null, null]);
    const width = cache.shape[2]!;
    expect(q, 'mlaDecode.q', q.dtype, [null, null, width]);
    const [n, h] = q.shape as [number, number];
    const bt = meta.blockTable as CudaTensor;
    expect(bt, 'mlaDecode.blockTable', 'i32', [null, null]);
    const seqLens = meta.seqLens as CudaTensor;
    expect(seqLens, 'mlaDecode.seqLens', 'i32', [n]);
    if (meta.tokenToRow) expect(meta.tokenToRow as CudaTensor, 'mlaDecode.tokenToRow', 'i32', [n]);
    else if (bt.shape[0]! < n) {
      throw new RangeError(`mlaDecode.blockTable: needs a row per token (${n}), has ${bt.shape[0]}`);
    }
    expect(out, 'mlaDecode.out', out.dtype, [n, h, null]);
    const dv = out.shape[2]!;
    if (dv > width) throw new RangeError(`mlaDecode.out: value width ${dv} exceeds the cache width ${width}`);
    expect(lse, 'mlaDecode.lse', 'f32', [n, h]);
    if (!Number.isFinite(scale)) throw new RangeError(`mlaDecode.scale: must be finite, got ${scale}`);
    const blockSize = cache.shape[1]!;
    const capacity = bt.shape[1]! * blockSize;
    const args = {
      q: viewOf(q),
      cache: viewOf(cache),
      blockTable: viewOf(bt),
      seqLens: viewOf(seqLens),
      out: viewOf(out),
      lse: viewOf(lse),
      tokens: n,
      heads: h,
      numBlocks: cache.shape[0]!,
      blockSize,
      maxBlocksPerSeq: Math.max(1, bt.shape[1]!),
      numRows: bt.shape[0]!,
      scale,
    };
    const full = meta.tokenToRow ? { ...args, tokenToRow: viewOf(meta.tokenToRow as CudaTensor) } : args;
    const fast =
      q.dtype === 'bf16' &&
      cache.dtype === 'bf16' &&
      out.dtype === 'bf16' &&
      width === LATENT &&
      dv === KV_LORA;
    if (fast) {
      // The split count is sized from the longest length when the host wrote seqLens.
      this.rank.mlaDecode({
        ...full,
        maxSeqLen: Math.min(capacity, Math.max(0, seqLens.hostMax ?? capacity)),
      });
    } else {
      this.rank.invoke('genericDecode', {
        ...full,
        width,
        dv,
        qDtype: q.dtype,
        cacheDtype: cache.dtype,
        outDtype: out.dtype,
      });
    }
  }

  lseCorrect(
    out: CudaTensor,
    lses: CudaTensor,
    rank: number,
    base: 'e' | '2',
    globalLse: CudaTensor | null,
  ): void {
    floatOnly(out, 'lseCorrect.out');
    expect(out, 'lseCorrect.out', out.dtype, [null, null, null]);
    const [b, h, d] = out.shape as [number, number, number];
    expect(lses, 'lseCorrect.lses', 'f32', [null, b, h]);
    if (globalLse) expect(globalLse, 'lseCorrect.globalLse', 'f32', [b, h]);
    const world = lses.shape[0]!;
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) {
      throw new RangeError(`lseCorrect.rank: ${rank} outside [0, ${world})`);
    }
    this.rank.invoke('lseCorrect', {
      out: viewOf(out),
      lses: viewOf(lses),
      globalLse: globalLse ? viewOf(globalLse) : null,
      world,
      rank,
      batch: b,
      heads: h,
      dim: d,
      base2: base === '2',
      dtype: out.dtype,
    });
  }

  lsePack(out: CudaTensor, lse: CudaTensor, packed: CudaTensor): void {
    floatOnly(out, 'lsePack.out');
    expect(out, 'lsePack.out', out.dtype, [null, null, null]);
    const [b, h, d] = out.shape as [number, number, number];
    const lanes = out.dtype === 'f32' ? 1 : 2;
    expect(lse, 'lsePack.lse', 'f32', [b, h]);
    expect(packed, 'lsePack.packed', out.dtype, [b, h, d + lanes]);
    const args = { out: viewOf(out), lse: viewOf(lse), packed: viewOf(packed), rows: b * h, dim: d };
    if (lanes === 2) this.rank.lsePack(args);
    else this.rank.invoke('lsePackF32', args);
  }

  lseCombineA2a(packed: CudaTensor, base: 'e' | '2', out: CudaTensor, outLse: CudaTensor | null): void {
    floatOnly(packed, 'lseCombineA2a.packed');
    expect(packed, 'lseCombineA2a.packed', packed.dtype, [null, null, null, null]);
    const [b, w, hl, dp] = packed.shape as [number, number, number, number];
    const lanes = packed.dtype === 'f32' ? 1 : 2;
    expect(out, 'lseCombineA2a.out', packed.dtype, [b, hl, dp - lanes]);
    if (outLse) expect(outLse, 'lseCombineA2a.outLse', 'f32', [b, hl]);
    const args = {
      packed: viewOf(packed),
      out: viewOf(out),
      world: w,
      batch: b,
      heads: hl,
      dim: dp - lanes,
      base2: base === '2',
    };
    const full = outLse ? { ...args, globalLse: viewOf(outLse) } : args;
    if (lanes === 2) this.rank.a2aCombine(full);
    else this.rank.invoke('a2aCombineF32', full);
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
