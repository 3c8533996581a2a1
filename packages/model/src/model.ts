import type { AttentionBackend, FloatDType, Tensor } from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import type { Communicator } from '@dcp/parallel-state';
import { mlaAttention } from './attention.js';
import {
  type BatchPlan,
  type DcpLayout,
  DEFAULT_CONTEXT_CHUNK,
  type ForwardBatch,
  planBatch,
} from './batch.js';
import type { LayerContext } from './context.js';
import { toHostData } from './dtype.js';
import { ModelError } from './errors.js';
import { denseMlp, moeMlp } from './ffn.js';
import { type LayerWeights, layerTensors, loadLayer } from './layer-weights.js';
import { modelTensorSpecs } from './names.js';
import { type RopeTables, ropeTables } from './rope.js';
import { Scope } from './scope.js';
import { localHeads, type ModelShard, vocabRange } from './sharding.js';
import { uploadStep } from './step.js';
import { type LoadProgress, planTensors, WeightReader, type WeightSource } from './weight-source.js';

/** How to build one rank's model. */
export interface ModelOptions<T extends Tensor, B> {
  config: ModelConfig;
  backend: AttentionBackend<T, B>;
  /** This rank's TP place and pipeline-stage layers. */
  shard: ModelShard;
  /** This rank's DCP place (default: no DCP). */
  dcp?: DcpLayout;
  /** TP group (all-reduce, logits gather) and DCP group (q all-gather, LSE merge, context gather). */
  comms?: { tp?: Communicator<B>; dcp?: Communicator<B> };
  /** Activation and weight dtype (default `f32`); must be one the backend computes with. */
  dtype?: FloatDType;
  /** DCP merge: `ag_rs` (all-gather LSE + reduce-scatter, default) or `a2a` (one all-to-all). */
  dcpCombine?: 'ag_rs' | 'a2a';
  /**
   * Most cached-context tokens per prefill request attended in one chunk (default 8192): bounds
   * the gathered context and its up-projection (spec §5.2); chunks merge exactly by LSE.
   */
  contextChunkTokens?: number;
}

/** Loading options: where the weights come from and a progress callback (one call per tensor). */
export interface LoadOptions<T extends Tensor, B> extends ModelOptions<T, B> {
  source: WeightSource;
  onProgress?: (p: LoadProgress) => void;
}

/** What a forward returns: hidden states on a non-last stage, logits on the last. */
export interface ForwardResult<T extends Tensor> {
  /** `[numTokens, hidden]` (non-last stages): send it to the next stage. The caller owns it. */
  hidden: T | null;
  /** `[logitRows, vocabSize]` f32-or-model-dtype logits gathered over TP (last stage). The caller owns it. */
  logits: T | null;
}

/**
 * DeepSeek-V2 (`DeepseekV2ForCausalLM`) on one rank: its TP slice of its pipeline stage's layers,
 * over the ops of an `AttentionBackend`. Create with `DeepseekV2Model.load`; allocate the paged
 * latent cache with `allocateKvCache`; then call `forward` once per engine step.
 */
export class DeepseekV2Model<T extends Tensor = Tensor, B = unknown> {
  private caches: T[] = [];
  private blockSize = 0;
  private readonly rope: RopeTables;
  private readonly dcpLayout: DcpLayout;
  private readonly heads: number;

  private constructor(
    readonly config: ModelConfig,
    readonly backend: AttentionBackend<T, B>,
    readonly shard: ModelShard,
    readonly dtype: FloatDType,
    private readonly opts: ModelOptions<T, B>,
    private readonly embed: T | null,
    private readonly layers: LayerWeights<T>[],
    private readonly finalNorm: T | null,
    private readonly lmHead: T | null,
  ) {
    this.rope = ropeTables(config);
    this.dcpLayout = opts.dcp ?? { size: 1, rank: 0, interleave: 1 };
    const h = localHeads(config, shard);
    this.heads = h.end - h.start;
  }

  /** Loads this rank's weights from `source` (streaming, one layer at a time) and uploads them. */
  static async load<T extends Tensor, B>(o: LoadOptions<T, B>): Promise<DeepseekV2Model<T, B>> {
    const { config, backend, shard, source } = o;
    const dtype = o.dtype ?? 'f32';
    checkOptions(o, dtype);
    const range = { start: shard.layerStart, end: shard.layerEnd };
    const all = planTensors(modelTensorSpecs(config, range), shard, config);
    const bytes = all.reduce((a, t) => a + t.slice.shape.reduce((x, y) => x * y, 1) * 4, 0);
    const reader = new WeightReader(source, all.length, bytes, o.onProgress);
    const byName = new Map(all.map((t) => [t.name, t]));
    const upload = async (name: string, dt: FloatDType = dtype) => {
      const t = byName.get(name);
      if (!t) return null;
      return backend.upload(toHostData(await reader.read(t), dt), t.slice.shape, dt);
    };
    const embed = await upload('model.embed_tokens.weight');
    const layers: LayerWeights<T>[] = [];
    for (let l = shard.layerStart; l < shard.layerEnd; l++) {
      layers.push(await loadLayer(backend, config, shard, l, reader, dtype));
    }
    const finalNorm = await upload('model.norm.weight');
    const lmHead = config.tieWordEmbeddings ? null : await upload('lm_head.weight');
    return new DeepseekV2Model(config, backend, shard, dtype, o, embed, layers, finalNorm, lmHead);
  }

  /** Bytes of one cache block on this rank (all local layers): `layers · blockSize · latent · dtype`. */
  static kvCacheBytesPerBlock(
    config: ModelConfig,
    shard: ModelShard,
    blockSize: number,
    dtypeBytes: number,
  ): number {
    const latent = config.kvLoraRank + config.qkRopeHeadDim;
    return (shard.layerEnd - shard.layerStart) * blockSize * latent * dtypeBytes;
  }

  /**
   * Allocates this rank's paged latent cache: one `[numBlocks, blockSize, kvLoraRank + rope]`
   * tensor per local layer (block ids are shared with every DCP rank; see spec §0 step 3).
   */
  allocateKvCache(numBlocks: number, blockSize: number, dtype: FloatDType = this.dtype): void {
    if (!Number.isInteger(numBlocks) || numBlocks < 1)
      throw new ModelError('numBlocks', `must be >= 1, got ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize < 1)
      throw new ModelError('blockSize', `must be >= 1, got ${blockSize}`);
    for (const c of this.caches) this.backend.dispose(c);
    const latent = this.config.kvLoraRank + this.config.qkRopeHeadDim;
    this.caches = this.layers.map(() => {
      const t = this.backend.alloc([numBlocks, blockSize, latent], dtype);
      this.backend.fill(t, 0);
      return t;
    });
    this.blockSize = blockSize;
  }

  /** The cache tensor of decoder layer `layer` (global index), for tests and tools. */
  kvCache(layer: number): T {
    const c = this.caches[layer - this.shard.layerStart];
    if (!c) throw new ModelError('layer', `${layer} has no cache on this rank (call allocateKvCache first)`);
    return c;
  }

  /** One step over `batch` on this rank (see `ForwardBatch`); every rank of the TP group calls it. */
  async forward(batch: ForwardBatch<T>): Promise<ForwardResult<T>> {
    if (this.caches.length !== this.layers.length || this.blockSize === 0) {
      throw new ModelError('kvCache', 'call allocateKvCache before forward');
    }
    const b = this.backend;
    const plan = planBatch(
      batch,
      this.dcpLayout,
      this.blockSize * this.dcpLayout.size,
      this.opts.contextChunkTokens ?? DEFAULT_CONTEXT_CHUNK,
    );
    if (plan.numTokens === 0) throw new ModelError('queryLens', 'a batch needs at least one row');
    const ids = this.checkInputs(batch, plan.numTokens);
    const outer = new Scope(b);
    try {
      return await this.run(batch, plan, ids, outer);
    } finally {
      outer.dispose();
    }
  }

  /** Token ids of the first stage (validated), or null after checking a later stage's hidden states. */
  private checkInputs(batch: ForwardBatch<T>, n: number): Int32Array | null {
    const c = this.config;
    if (!this.shard.isFirstStage) {
      const hid = batch.hidden;
      if (hid?.shape.length !== 2 || hid.shape[0] !== n || hid.shape[1] !== c.hiddenSize) {
        throw new ModelError('hidden', `a later pipeline stage needs hidden states [${n}, ${c.hiddenSize}]`);
      }
      return null;
    }
    if (!batch.tokenIds) throw new ModelError('tokenIds', 'the first pipeline stage needs token ids');
    if (batch.tokenIds.length !== n) {
      throw new ModelError('tokenIds', `has ${batch.tokenIds.length} entries for ${n} rows`);
    }
    const ids = Int32Array.from(batch.tokenIds);
    for (let i = 0; i < n; i++) {
      const id = batch.tokenIds[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new ModelError(`tokenIds[${i}]`, `${id} is outside the vocabulary [0, ${c.vocabSize})`);
      }
    }
    return ids;
  }

  private async run(
    batch: ForwardBatch<T>,
    plan: BatchPlan,
    ids: Int32Array | null,
    outer: Scope<T, B>,
  ): Promise<ForwardResult<T>> {
    const b = this.backend;
    const c = this.config;
    const step = uploadStep(outer, plan, this.rope, this.config.qkRopeHeadDim);
    const tp = this.opts.comms?.tp ?? null;
    const dcp = this.opts.comms?.dcp ?? null;
    const ctxOf = (scope: Scope<T, B>): LayerContext<T, B> => ({
      backend: b,
      config: c,
      dtype: this.dtype,
      plan,
      step,
      scope,
      tp,
      dcp,
      dcpLayout: this.dcpLayout,
      dcpCombine: this.opts.dcpCombine ?? 'ag_rs',
      softmaxScale: this.rope.softmaxScale,
      heads: this.heads,
    });
    const h = c.hiddenSize;
    let x = outer.alloc([plan.numTokens, h], this.dtype);
    if (ids) {
      b.embedding(
        outer.upload(ids, [plan.numTokens], 'i32'),
        this.embed!,
        vocabRange(c.vocabSize, this.shard).start,
        x,
      );
      if (tp && tp.size > 1) {
        x = outer.adopt(b.fromCommBuffer(await tp.allReduce(b.commBuffer(x)), x.shape, x.dtype));
      }
    } else {
      b.copyColumns(batch.hidden!, 0, x, 0, h);
    }
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      const scope = new Scope(b);
      try {
        const ctx = ctxOf(scope);
        const xn = scope.alloc([plan.numTokens, h], this.dtype);
        b.rmsNorm(x, layer.inputNorm, c.rmsNormEps, xn);
        b.add(x, await mlaAttention(ctx, layer.attn, xn, this.caches[i]!), x);
        b.rmsNorm(x, layer.postNorm, c.rmsNormEps, xn);
        const m =
          layer.mlp.kind === 'dense'
            ? await denseMlp(ctx, xn, layer.mlp.dense)
            : await moeMlp(ctx, xn, layer.mlp.moe);
        b.add(x, m, x);
      } finally {
        scope.dispose();
      }
    }
    if (this.shard.isLastStage) return { hidden: null, logits: await this.logits(outer, x, plan.logitRows) };
    return { hidden: outer.release(x), logits: null };
  }

  /** Final norm, LM head (vocab-parallel), gather over TP. The result is released from `scope`. */
  private async logits(scope: Scope<T, B>, x: T, rows: Int32Array): Promise<T> {
    const b = this.backend;
    const c = this.config;
    const h = c.hiddenSize;
    const n = rows.length;
    let sel = x;
    const identity = n === x.shape[0] && rows.every((r, i) => r === i);
    if (!identity) {
      sel = scope.alloc([n, h], this.dtype);
      b.gatherRows(x, scope.upload(rows, [n], 'i32'), sel);
    }
    const normed = scope.alloc([n, h], this.dtype);
    b.rmsNorm(sel, this.finalNorm!, c.rmsNormEps, normed);
    const head = this.lmHead ?? this.embed!;
    const vr = vocabRange(c.vocabSize, this.shard);
    const tpSize = this.shard.tpSize;
    const part = Math.ceil(c.vocabSize / tpSize);
    const local = scope.alloc([n, vr.end - vr.start], 'f32');
    if (vr.end > vr.start) b.linear(normed, head, local);
    if (tpSize === 1) return scope.release(local);
    let padded = local;
    if (vr.end - vr.start < part) {
      padded = scope.alloc([n, part], 'f32');
      b.fill(padded, 0);
      if (vr.end > vr.start) b.copyColumns(local, 0, padded, 0, vr.end - vr.start);
    }
    const tp = this.opts.comms!.tp!;
    const all = scope.adopt(
      b.fromCommBuffer(await tp.allGather(b.commBuffer(padded), [n, part], 1), [n, tpSize * part], 'f32'),
    );
    if (tpSize * part === c.vocabSize) return scope.release(all);
    const out = scope.alloc([n, c.vocabSize], 'f32');
    b.copyColumns(all, 0, out, 0, c.vocabSize);
    return scope.release(out);
  }

  /** Releases every weight and cache tensor of this rank. */
  dispose(): void {
    const b = this.backend;
    for (const l of this.layers) for (const t of layerTensors(l)) b.dispose(t);
    for (const t of [this.embed, this.finalNorm, this.lmHead]) if (t) b.dispose(t);
    for (const c of this.caches) b.dispose(c);
    this.caches = [];
  }
}

function checkOptions<T extends Tensor, B>(o: ModelOptions<T, B>, dtype: FloatDType): void {
  const { config, backend, shard } = o;
  if (!backend.capabilities.dtypes.includes(dtype)) {
    throw new ModelError(
      'dtype',
      `backend ${backend.name} does not compute in ${dtype} (it has ${backend.capabilities.dtypes.join(', ')})`,
    );
  }
  if (shard.tpRank < 0 || shard.tpRank >= shard.tpSize)
    throw new ModelError('shard.tpRank', `must be in [0, ${shard.tpSize})`);
  if (shard.layerStart < 0 || shard.layerEnd > config.numHiddenLayers || shard.layerStart > shard.layerEnd) {
    throw new ModelError(
      'shard',
      `layers [${shard.layerStart}, ${shard.layerEnd}) are outside [0, ${config.numHiddenLayers}]`,
    );
  }
  localHeads(config, shard);
  const tp = o.comms?.tp;
  if (shard.tpSize > 1 && (!tp || tp.size !== shard.tpSize || tp.rank !== shard.tpRank)) {
    throw new ModelError(
      'comms.tp',
      `a TP group communicator of size ${shard.tpSize} with rank ${shard.tpRank} is required`,
    );
  }
  const d = o.dcp ?? { size: 1, rank: 0, interleave: 1 };
  if (d.size > 1) {
    const comm = o.comms?.dcp;
    if (!comm || comm.size !== d.size || comm.rank !== d.rank) {
      throw new ModelError(
        'comms.dcp',
        `a DCP group communicator of size ${d.size} with rank ${d.rank} is required`,
      );
    }
    if (!backend.capabilities.returnsDecodeLse) {
      throw new ModelError(
        'dcp',
        `backend ${backend.name} returns no decode LSE, so it cannot serve DCP ${d.size}`,
      );
    }
  }
}
