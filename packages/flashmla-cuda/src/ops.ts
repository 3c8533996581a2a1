/**
 * The part of the `@dcp/backend` op contract this package implements so far: memory, the paged
 * latent cache (write, gather), MLA decode with LSE and the DCP merge kernels. Dense layer ops
 * (linear, norms, MoE, rope, prefill attention) come in a later part; until then the backend
 * descriptor reports itself as not servable (see `descriptor.ts`).
 */
import type { BackendOps, DecodeMeta, DType, GatherCacheMeta, HostData } from '@dcp/backend';
import { dtypeBytes, numel } from '@dcp/backend';
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

/** The contract ops above on one `CudaRank` (bf16 activations and cache, f32 LSE, i32 metadata). */
export class CudaMlaOps implements Pick<BackendOps<CudaTensor, DeviceView>, CudaMlaOpNames> {
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

  writeKv(kvC: CudaTensor, kPe: CudaTensor, slotMapping: CudaTensor, cache: CudaTensor): void {
    expect(slotMapping, 'writeKv.slotMapping', 'i32', null);
    const n = numel(slotMapping.shape);
    expect(kvC, 'writeKv.kvC', 'bf16', null);
    expect(kPe, 'writeKv.kPe', 'bf16', null);
    if (numel(kvC.shape) !== n * KV_LORA) throw new RangeError(`writeKv.kvC: must be [${n}, ${KV_LORA}]`);
    if (numel(kPe.shape) !== n * ROPE) throw new RangeError(`writeKv.kPe: must be [${n}, ${ROPE}]`);
    expect(cache, 'writeKv.cache', 'bf16', [null, null, LATENT]);
    const numSlots = cache.shape[0]! * cache.shape[1]!;
    this.rank.kvWrite({
      kvC: viewOf(kvC),
      kPe: viewOf(kPe),
      slots: viewOf(slotMapping),
      cache: viewOf(cache),
      tokens: n,
      numSlots,
    });
  }

  gatherCache(cache: CudaTensor, meta: GatherCacheMeta, dst: CudaTensor): void {
    const c = cache as CudaTensor;
    expect(c, 'gatherCache.cache', 'bf16', [null, null, LATENT]);
    const bt = meta.blockTable as CudaTensor;
    expect(bt, 'gatherCache.blockTable', 'i32', [null, null]);
    const batch = bt.shape[0]!;
    expect(meta.cuSeqLens as CudaTensor, 'gatherCache.cuSeqLens', 'i32', [batch + 1]);
    if (meta.seqStarts) expect(meta.seqStarts as CudaTensor, 'gatherCache.seqStarts', 'i32', [batch]);
    expect(dst, 'gatherCache.dst', 'bf16', null);
    if (numel(dst.shape) % LATENT !== 0) throw new RangeError(`gatherCache.dst: rows must be ${LATENT} wide`);
    const args = {
      cache: viewOf(c),
      dst: viewOf(dst),
      blockTable: viewOf(bt),
      cuSeqLens: viewOf(meta.cuSeqLens as CudaTensor),
      batch,
      totalTokens: numel(dst.shape) / LATENT,
      numBlocks: c.shape[0]!,
      blockSize: c.shape[1]!,
      maxBlocksPerSeq: Math.max(1, bt.shape[1]!),
    };
    this.rank.contextGather(
      meta.seqStarts ? { ...args, seqStarts: viewOf(meta.seqStarts as CudaTensor) } : args,
    );
  }

  mlaDecode(
    q: CudaTensor,
    cache: CudaTensor,
    meta: DecodeMeta,
    scale: number,
    out: CudaTensor,
    lse: CudaTensor,
  ): void {
    expect(q, 'mlaDecode.q', 'bf16', [null, null, LATENT]);
    const [n, h] = q.shape as [number, number];
    expect(cache, 'mlaDecode.cache', 'bf16', [null, null, LATENT]);
    const bt = meta.blockTable as CudaTensor;
    expect(bt, 'mlaDecode.blockTable', 'i32', [null, null]);
    const seqLens = meta.seqLens as CudaTensor;
    expect(seqLens, 'mlaDecode.seqLens', 'i32', [n]);
    if (meta.tokenToRow) expect(meta.tokenToRow as CudaTensor, 'mlaDecode.tokenToRow', 'i32', [n]);
    else if (bt.shape[0]! < n)
      throw new RangeError(`mlaDecode.blockTable: needs a row per token (${n}), has ${bt.shape[0]}`);
    expect(out, 'mlaDecode.out', 'bf16', [n, h, KV_LORA]);
    expect(lse, 'mlaDecode.lse', 'f32', [n, h]);
    if (!Number.isFinite(scale)) throw new RangeError(`mlaDecode.scale: must be finite, got ${scale}`);
    const blockSize = cache.shape[1]!;
    const capacity = bt.shape[1]! * blockSize;
    const maxSeqLen = Math.min(capacity, Math.max(0, seqLens.hostMax ?? capacity));
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
      maxSeqLen,
    };
    this.rank.mlaDecode(
      meta.tokenToRow ? { ...args, tokenToRow: viewOf(meta.tokenToRow as CudaTensor) } : args,
    );
  }

  lseCorrect(
    out: CudaTensor,
    lses: CudaTensor,
    rank: number,
    base: 'e' | '2',
    globalLse: CudaTensor | null,
  ): void {
    expect(out, 'lseCorrect.out', 'bf16', [null, null, null]);
    const [b, h, d] = out.shape as [number, number, number];
    expect(lses, 'lseCorrect.lses', 'f32', [null, b, h]);
    if (globalLse) expect(globalLse, 'lseCorrect.globalLse', 'f32', [b, h]);
    const world = lses.shape[0]!;
    if (!Number.isInteger(rank) || rank < 0 || rank >= world)
      throw new RangeError(`lseCorrect.rank: ${rank} outside [0, ${world})`);
    const args = {
      out: viewOf(out),
      lses: viewOf(lses),
      world,
      rank,
      batch: b,
      heads: h,
      dim: d,
      base2: base === '2',
    };
    this.rank.lseCorrect(globalLse ? { ...args, globalLse: viewOf(globalLse) } : args);
  }

  lsePack(out: CudaTensor, lse: CudaTensor, packed: CudaTensor): void {
    expect(out, 'lsePack.out', 'bf16', [null, null, null]);
    const [b, h, d] = out.shape as [number, number, number];
    expect(lse, 'lsePack.lse', 'f32', [b, h]);
    expect(packed, 'lsePack.packed', 'bf16', [b, h, d + 2]);
    this.rank.lsePack({ out: viewOf(out), lse: viewOf(lse), packed: viewOf(packed), rows: b * h, dim: d });
  }

  lseCombineA2a(packed: CudaTensor, base: 'e' | '2', out: CudaTensor, outLse: CudaTensor | null): void {
    expect(packed, 'lseCombineA2a.packed', 'bf16', [null, null, null, null]);
    const [b, w, hl, dp] = packed.shape as [number, number, number, number];
    expect(out, 'lseCombineA2a.out', 'bf16', [b, hl, dp - 2]);
    if (outLse) expect(outLse, 'lseCombineA2a.outLse', 'f32', [b, hl]);
    const args = {
      packed: viewOf(packed),
      out: viewOf(out),
      world: w,
      batch: b,
      heads: hl,
      dim: dp - 2,
      base2: base === '2',
    };
    this.rank.a2aCombine(outLse ? { ...args, globalLse: viewOf(outLse) } : args);
  }

  commBuffer(t: CudaTensor): DeviceView {
    return viewOf(t);
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
