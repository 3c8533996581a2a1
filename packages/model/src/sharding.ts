import type { ModelConfig } from '@dcp/config';
import { ModelError } from './errors.js';

/**
 * What one rank holds of the model: its place in the TP group and the decoder layers of its
 * pipeline stage. Plain data; build it with `modelShard` from `@dcp/parallel-state`'s topology, or
 * by hand (`{ tpRank: 0, tpSize: 1, layerStart: 0, layerEnd: L, isFirstStage: true, isLastStage: true }`).
 */
export interface ModelShard {
  tpRank: number;
  tpSize: number;
  /** First decoder layer of this stage. */
  layerStart: number;
  /** One past the last decoder layer of this stage. */
  layerEnd: number;
  /** Holds the embedding (and takes token ids). */
  isFirstStage: boolean;
  /** Holds the final norm and the LM head (and returns logits). */
  isLastStage: boolean;
}

/** The whole model on one rank. */
export function fullShard(config: ModelConfig): ModelShard {
  return {
    tpRank: 0,
    tpSize: 1,
    layerStart: 0,
    layerEnd: config.numHiddenLayers,
    isFirstStage: true,
    isLastStage: true,
  };
}

/** Part `index` of `parts` near-equal contiguous parts of `[0, total)` (earlier parts get the remainder). */
export function splitRange(total: number, parts: number, index: number): { start: number; end: number } {
  const base = Math.floor(total / parts);
  const rem = total % parts;
  const start = index * base + Math.min(index, rem);
  return { start, end: start + base + (index < rem ? 1 : 0) };
}

/**
 * The slice of a tensor a rank loads: the whole tensor (`dim === null`) or rows `[start, end)` of
 * dimension `dim`. `shape` is the shard's shape.
 */
export interface ShardSlice {
  dim: number | null;
  start: number;
  end: number;
  shape: number[];
}

function whole(fullShape: readonly number[]): ShardSlice {
  return { dim: null, start: 0, end: fullShape[0] ?? 1, shape: [...fullShape] };
}

function along(fullShape: readonly number[], dim: number, range: { start: number; end: number }): ShardSlice {
  const shape = [...fullShape];
  shape[dim] = range.end - range.start;
  return { dim, start: range.start, end: range.end, shape };
}

/**
 * The vocabulary rows of TP rank `tpRank` (vocab-parallel embedding and LM head): equal parts of
 * `ceil(vocabSize / tpSize)` rows, the last one shorter when the size does not divide (the model
 * pads it so that logits gather in equal parts).
 */
export function vocabRange(vocabSize: number, shard: ModelShard): { start: number; end: number } {
  const part = Math.ceil(vocabSize / shard.tpSize);
  const start = Math.min(vocabSize, shard.tpRank * part);
  return { start, end: Math.min(vocabSize, start + part) };
}

/** The routed experts TP rank `tpRank` runs: a contiguous, near-equal share of `nRoutedExperts`. */
export function expertRange(config: ModelConfig, shard: ModelShard): { start: number; end: number } {
  return splitRange(config.nRoutedExperts, shard.tpSize, shard.tpRank);
}

/** Attention heads of this TP rank (`numAttentionHeads` must divide evenly). */
export function localHeads(config: ModelConfig, shard: ModelShard): { start: number; end: number } {
  if (config.numAttentionHeads % shard.tpSize !== 0) {
    throw new ModelError(
      'tensorParallelSize',
      `${config.numAttentionHeads} attention heads do not split evenly over ${shard.tpSize} TP ranks`,
    );
  }
  const n = config.numAttentionHeads / shard.tpSize;
  return { start: shard.tpRank * n, end: (shard.tpRank + 1) * n };
}

const REPLICATED = new Set([
  'input_layernorm.weight',
  'post_attention_layernorm.weight',
  'self_attn.q_a_proj.weight',
  'self_attn.q_a_proj.bias',
  'self_attn.q_a_layernorm.weight',
  'self_attn.kv_a_proj_with_mqa.weight',
  'self_attn.kv_a_proj_with_mqa.bias',
  'self_attn.kv_a_layernorm.weight',
  'self_attn.o_proj.bias',
  'mlp.gate.weight',
]);
const HEAD_ROWS = new Set([
  'self_attn.q_proj.weight',
  'self_attn.q_b_proj.weight',
  'self_attn.kv_b_proj.weight',
]);
const COLUMN = new Set([
  'mlp.gate_proj.weight',
  'mlp.up_proj.weight',
  'mlp.shared_experts.gate_proj.weight',
  'mlp.shared_experts.up_proj.weight',
]);
const ROW = new Set(['mlp.down_proj.weight', 'mlp.shared_experts.down_proj.weight']);

/**
 * Which part of tensor `name` (full shape `fullShape`) this rank loads, as vLLM shards DeepSeek-V2:
 * q/q_b/kv_b projections column-parallel by heads, `o_proj` row-parallel by heads, dense and shared
 * MLPs column-parallel (gate/up) and row-parallel (down) over the intermediate dim, the latent
 * projections (`q_a_proj`, `kv_a_proj_with_mqa`), norms and router replicated, routed experts
 * split whole across TP ranks (`expertRange`), embedding and LM head vocab-parallel. Returns `null`
 * for tensors this rank does not hold (another stage's layers, another rank's experts, the rotary
 * `inv_freq` buffer). Throws `ModelError` for a name it does not know.
 */
export function shardSlice(
  name: string,
  fullShape: readonly number[],
  shard: ModelShard,
  config: ModelConfig,
): ShardSlice | null {
  const tp = (total: number) => splitRange(total, shard.tpSize, shard.tpRank);
  if (name === 'model.embed_tokens.weight') {
    const needed = shard.isFirstStage || (shard.isLastStage && config.tieWordEmbeddings);
    return needed ? along(fullShape, 0, vocabRange(fullShape[0]!, shard)) : null;
  }
  if (name === 'lm_head.weight') {
    return shard.isLastStage ? along(fullShape, 0, vocabRange(fullShape[0]!, shard)) : null;
  }
  if (name === 'model.norm.weight') return shard.isLastStage ? whole(fullShape) : null;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) throw new ModelError('tensor', `unknown tensor name ${JSON.stringify(name)}`);
  const layer = Number(m[1]);
  const rest = m[2]!;
  if (layer < shard.layerStart || layer >= shard.layerEnd) return null;
  if (rest === 'self_attn.rotary_emb.inv_freq') return null;
  if (REPLICATED.has(rest)) return whole(fullShape);
  if (HEAD_ROWS.has(rest)) {
    const h = localHeads(config, shard);
    const per = fullShape[0]! / config.numAttentionHeads;
    return along(fullShape, 0, { start: h.start * per, end: h.end * per });
  }
  if (rest === 'self_attn.o_proj.weight') {
    const h = localHeads(config, shard);
    const per = fullShape[1]! / config.numAttentionHeads;
    return along(fullShape, 1, { start: h.start * per, end: h.end * per });
  }
  if (COLUMN.has(rest)) return along(fullShape, 0, tp(fullShape[0]!));
  if (ROW.has(rest)) return along(fullShape, 1, tp(fullShape[1]!));
  const experts = expertRange(config, shard);
  const e = /^mlp\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$/.exec(rest);
  if (e) {
    const idx = Number(e[1]);
    return idx >= experts.start && idx < experts.end ? whole(fullShape) : null;
  }
  // transformers 5 may save routed experts fused: [E, 2I, H] and [E, H, I].
  if (rest === 'mlp.experts.gate_up_proj' || rest === 'mlp.experts.down_proj') {
    return along(fullShape, 0, experts);
  }
  throw new ModelError('tensor', `unknown tensor name ${JSON.stringify(name)}`);
}

/** Copies the `slice` of a row-major tensor of shape `fullShape` out of `full` (any typed array). */
export function takeSlice<T extends Float32Array | Uint16Array | Float64Array>(
  full: T,
  fullShape: readonly number[],
  slice: ShardSlice,
): T {
  if (slice.dim === null) return full.slice() as T;
  const outer = fullShape.slice(0, slice.dim).reduce((a, b) => a * b, 1);
  const inner = fullShape.slice(slice.dim + 1).reduce((a, b) => a * b, 1);
  const dimLen = fullShape[slice.dim]!;
  const len = slice.end - slice.start;
  const ctor = full.constructor as new (n: number) => T;
  const out = new ctor(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    const src = (o * dimLen + slice.start) * inner;
    out.set(full.subarray(src, src + len * inner), o * len * inner);
  }
  return out;
}
