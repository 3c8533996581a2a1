/**
 * One rank = one CUDA device + one stream. Every op enqueues on that stream and returns at once;
 * only `download`, `synchronize` and `timeGraph` wait, on a worker thread behind a Promise
 * (`synchronizeSync` is the one explicit blocking call). CUDA errors surface as exceptions whose
 * message starts with the op's name.
 */
import { DeviceBuffer, type DeviceRef, toNative } from './buffer.js';
import type {
  A2aCombineArgs,
  ContextGatherArgs,
  GenericOp,
  KvWriteArgs,
  LseCorrectArgs,
  LsePackArgs,
  MlaDecodeArgs,
} from './rank-args.js';

export type {
  A2aCombineArgs,
  ContextGatherArgs,
  GenericOp,
  KvWriteArgs,
  LseCorrectArgs,
  LsePackArgs,
  MlaDecodeArgs,
} from './rank-args.js';

import { type AddonLoad, loadAddon, type NativeBuffer, type NativeGraph, type NativeRank } from './native.js';
import { CudaUnavailableError, probeCuda } from './probe.js';

/** A captured CUDA graph of one rank. */
export class CudaGraph {
  #native: NativeGraph | null;
  /** @internal */
  constructor(native: NativeGraph) {
    this.#native = native;
  }
  /** @internal */
  get native(): NativeGraph {
    if (!this.#native) throw new Error('graph: already disposed');
    return this.#native;
  }
  /** Frees the graph. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }
}

function opt(ref: DeviceRef | undefined, field: string) {
  return ref === undefined ? null : toNative(ref, field);
}

/** One CUDA device and its stream. Create with `CudaRank.create(device)`. */
export class CudaRank {
  /** Device ordinal. */
  readonly device: number;
  /** Multiprocessors of the device. */
  readonly smCount: number;
  /** L2 size in bytes. */
  readonly l2Bytes: number;
  #native: NativeRank | null;
  readonly #registry = new FinalizationRegistry<NativeBuffer>((b) => b.dispose());
  #workspace: DeviceBuffer | null = null;

  private constructor(native: NativeRank) {
    this.#native = native;
    this.device = native.info.device;
    this.smCount = native.info.smCount;
    this.l2Bytes = native.info.l2Bytes;
  }

  /** Opens `device`; throws `CudaUnavailableError` (with the reason) when CUDA cannot be used. */
  static create(device = 0, load: AddonLoad = loadAddon()): CudaRank {
    if (!Number.isInteger(device) || device < 0)
      throw new RangeError(`device must be a non-negative integer, got ${device}`);
    const p = probeCuda(load);
    if (!load.ok || !p.available) throw new CudaUnavailableError(p.reason, p.code);
    if (device >= p.deviceCount)
      throw new RangeError(`device ${device} does not exist (${p.deviceCount} CUDA devices)`);
    return new CudaRank(new load.addon.NativeRank(device));
  }

  get #n(): NativeRank {
    if (!this.#native) throw new Error('CudaRank: already disposed');
    return this.#native;
  }

  /** Allocates `bytes` of device memory (stream-ordered). */
  alloc(bytes: number): DeviceBuffer {
    return new DeviceBuffer(this.#n.alloc(bytes), this.#registry);
  }

  /** Copies `data` to `dst`, ordered on the stream; `data` may be reused as soon as this returns. */
  upload(dst: DeviceRef, data: ArrayBufferView): void {
    this.#n.upload(toNative(dst, 'upload.dst'), data);
  }

  /** Copies device memory into `out` once every op enqueued before has finished. */
  download<A extends ArrayBufferView>(src: DeviceRef, out: A): Promise<A> {
    return this.#n.download(toNative(src, 'download.src'), out);
  }

  /** Sets `bytes` bytes at `dst` to `value`. */
  memset(dst: DeviceRef, value: number, bytes: number): void {
    this.#n.memset({ dst: toNative(dst, 'memset.dst'), value, bytes });
  }

  /** Resolves when all enqueued work has finished; rejects with the first asynchronous CUDA error. */
  synchronize(): Promise<void> {
    return this.#n.synchronize();
  }

  /** Blocks the thread until all enqueued work has finished. */
  synchronizeSync(): void {
    this.#n.synchronizeSync();
  }

  /** Fills `count` bf16 values with a seeded uniform draw in `[lo, hi)` (tests, dummy data). */
  fillUniformBf16(dst: DeviceRef, count: number, seed: number, lo = -1, hi = 1): void {
    this.#n.fillUniform({ dst: toNative(dst, 'fillUniform.dst'), count, seed, lo, hi });
  }

  /** Split count and workspace bytes the decode would use for this batch. */
  decodePlan(tokens: number, heads: number, maxSeqLen: number, splits?: number) {
    return this.#n.decodePlan(
      splits === undefined ? { tokens, heads, maxSeqLen } : { tokens, heads, maxSeqLen, splits },
    );
  }

  /** Paged MLA decode with LSE (split-KV + exact combine). */
  mlaDecode(a: MlaDecodeArgs): void {
    const plan = this.decodePlan(a.tokens, a.heads, a.maxSeqLen, a.splits);
    let ws = a.workspace;
    if (ws === undefined && plan.workspaceBytes > 0) {
      if (!this.#workspace || this.#workspace.bytes < plan.workspaceBytes) {
        this.#workspace?.dispose();
        this.#workspace = this.alloc(plan.workspaceBytes);
      }
      ws = this.#workspace;
    }
    this.#n.mlaDecode({
      q: toNative(a.q, 'mlaDecode.q'),
      cache: toNative(a.cache, 'mlaDecode.cache'),
      blockTable: toNative(a.blockTable, 'mlaDecode.blockTable'),
      seqLens: toNative(a.seqLens, 'mlaDecode.seqLens'),
      tokenToRow: opt(a.tokenToRow, 'mlaDecode.tokenToRow'),
      out: toNative(a.out, 'mlaDecode.out'),
      lse: toNative(a.lse, 'mlaDecode.lse'),
      workspace: opt(ws, 'mlaDecode.workspace'),
      tokens: a.tokens,
      heads: a.heads,
      numBlocks: a.numBlocks,
      blockSize: a.blockSize,
      maxBlocksPerSeq: a.maxBlocksPerSeq,
      numRows: a.numRows ?? a.tokens,
      splits: plan.splits,
      scale: a.scale,
    });
  }

  /** Writes `kvC ‖ kPe` rows into the cache at their slots, skipping slot −1. */
  kvWrite(a: KvWriteArgs): void {
    this.#n.kvWrite({
      kvC: toNative(a.kvC, 'kvWrite.kvC'),
      kPe: toNative(a.kPe, 'kvWrite.kPe'),
      slots: toNative(a.slots, 'kvWrite.slots'),
      cache: toNative(a.cache, 'kvWrite.cache'),
      tokens: a.tokens,
      numSlots: a.numSlots,
      kvCStride: a.kvCStride ?? 512,
      kPeStride: a.kPeStride ?? 64,
    });
  }

  /** Copies cache entries `[seqStarts[b], +len_b)` of each request into contiguous rows of `dst`. */
  contextGather(a: ContextGatherArgs): void {
    this.#n.contextGather({
      cache: toNative(a.cache, 'contextGather.cache'),
      dst: toNative(a.dst, 'contextGather.dst'),
      blockTable: toNative(a.blockTable, 'contextGather.blockTable'),
      cuSeqLens: toNative(a.cuSeqLens, 'contextGather.cuSeqLens'),
      seqStarts: opt(a.seqStarts, 'contextGather.seqStarts'),
      batch: a.batch,
      totalTokens: a.totalTokens,
      numBlocks: a.numBlocks,
      blockSize: a.blockSize,
      maxBlocksPerSeq: a.maxBlocksPerSeq,
    });
  }

  /** The ag_rs LSE correction of this rank's partial output, in place. */
  lseCorrect(a: LseCorrectArgs): void {
    this.#n.lseCorrect({
      out: toNative(a.out, 'lseCorrect.out'),
      lses: toNative(a.lses, 'lseCorrect.lses'),
      globalLse: opt(a.globalLse, 'lseCorrect.globalLse'),
      world: a.world,
      rank: a.rank,
      batch: a.batch,
      heads: a.heads,
      dim: a.dim,
      base2: a.base2 === true,
    });
  }

  /** Packs bf16 output rows with their f32 LSE (high, low 16 bits) for the a2a exchange. */
  lsePack(a: LsePackArgs): void {
    this.#n.lsePack({
      out: toNative(a.out, 'lsePack.out'),
      lse: toNative(a.lse, 'lsePack.lse'),
      packed: toNative(a.packed, 'lsePack.packed'),
      rows: a.rows,
      dim: a.dim,
    });
  }

  /** The a2a combine of exchanged packed partials. */
  a2aCombine(a: A2aCombineArgs): void {
    this.#n.a2aCombine({
      packed: toNative(a.packed, 'a2aCombine.packed'),
      out: toNative(a.out, 'a2aCombine.out'),
      globalLse: opt(a.globalLse, 'a2aCombine.globalLse'),
      world: a.world,
      batch: a.batch,
      heads: a.heads,
      dim: a.dim,
      base2: a.base2 === true,
    });
  }

  /**
   * @internal Calls one of the addon's generic kernels (`genericDecode`, `genericKvWrite`,
   * `genericGather`, `fillPattern`, `copyColumns`, `gatherRows`, `lsePackF32`, `a2aCombineF32`,
   * `lseCorrect`); `DeviceRef` values in `args` become device views.
   */
  invoke(op: GenericOp, args: Record<string, unknown>): void {
    const conv: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) {
      const isRef = v instanceof DeviceBuffer || (typeof v === 'object' && v !== null && 'buffer' in v);
      conv[k] = isRef ? toNative(v as DeviceRef, `${op}.${k}`) : v;
    }
    this.#n[op](conv);
  }

  /** Captures the work `record` enqueues into a graph (nothing runs while capturing). */
  captureGraph(record: () => void): CudaGraph {
    this.#n.beginCapture();
    try {
      record();
    } catch (e) {
      try {
        this.#n.endCapture().dispose();
      } catch {
        // the capture was already invalid; the original error is the useful one
      }
      throw e;
    }
    return new CudaGraph(this.#n.endCapture());
  }

  /** Enqueues one replay of `graph`. */
  launchGraph(graph: CudaGraph): void {
    this.#n.launchGraph(graph.native);
  }

  /**
   * Times `iters` replays of `graph` with CUDA events (µs each). With `flush`, each replay is
   * preceded by a memset of that buffer, which evicts the L2 (cold-cache timing).
   */
  timeGraph(graph: CudaGraph, iters: number, flush?: DeviceBuffer): Promise<Float64Array> {
    return this.#n.timeGraph(
      graph.native,
      iters,
      flush ? flush.native(0, 'timeGraph.flush') : null,
      flush?.bytes ?? 0,
    );
  }

  /** Frees the rank's workspace and releases its stream once no buffer uses it any more. */
  dispose(): void {
    this.#workspace?.dispose();
    this.#workspace = null;
    this.#native?.dispose();
    this.#native = null;
  }
}
