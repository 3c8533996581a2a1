/**
 * Sharding: for every tensor of a model and every (tp, pp) layout, the ranks' slices put back
 * together give the full tensor exactly once (column/row/vocab/expert splits concatenate,
 * replicated tensors are whole on every TP rank, each layer lives on one stage), and dummy weights
 * generated per shard equal the slices of the full dummy tensor.
 */
import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import { layerRange } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { dummyTensor } from './dummy.js';
import { ModelError } from './errors.js';
import { modelTensorSpecs } from './names.js';
import { type ModelShard, type ShardSlice, shardSlice, takeSlice } from './sharding.js';

const config: ModelConfig = parseHfModelConfig({
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_size: 24,
  num_hidden_layers: 5,
  num_attention_heads: 12,
  q_lora_rank: 8,
  kv_lora_rank: 8,
  qk_nope_head_dim: 4,
  qk_rope_head_dim: 2,
  v_head_dim: 3,
  intermediate_size: 10,
  n_routed_experts: 7,
  n_shared_experts: 2,
  num_experts_per_tok: 2,
  moe_intermediate_size: 5,
  first_k_dense_replace: 2,
  attention_bias: true,
  vocab_size: 101,
  tie_word_embeddings: false,
  rope_theta: 10000,
  max_position_embeddings: 64,
  torch_dtype: 'float32',
});

function shards(tp: number, pp: number, c: ModelConfig): ModelShard[] {
  const out: ModelShard[] = [];
  for (let s = 0; s < pp; s++) {
    const r = layerRange(c.numHiddenLayers, pp, s);
    for (let t = 0; t < tp; t++) {
      out.push({
        tpRank: t,
        tpSize: tp,
        layerStart: r.start,
        layerEnd: r.end,
        isFirstStage: s === 0,
        isLastStage: s === pp - 1,
      });
    }
  }
  return out;
}

/** Reassembles the pieces of one stage's TP ranks (slices in TP order) and checks they cover `full`. */
function reassemble(
  full: Float32Array,
  shape: number[],
  pieces: { slice: ShardSlice; data: Float32Array }[],
): void {
  const whole = pieces.filter((p) => p.slice.dim === null);
  for (const p of whole) expect(p.data).toEqual(full);
  const split = pieces.filter((p) => p.slice.dim !== null);
  if (split.length === 0) return;
  const dim = split[0]!.slice.dim!;
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const rebuilt = new Float32Array(full.length);
  let next = 0;
  for (const p of split) {
    expect(p.slice.dim).toBe(dim);
    expect(p.slice.start).toBe(next); // contiguous, in TP order, no overlap
    const len = p.slice.end - p.slice.start;
    for (let o = 0; o < outer; o++) {
      rebuilt.set(
        p.data.subarray(o * len * inner, (o + 1) * len * inner),
        (o * shape[dim]! + p.slice.start) * inner,
      );
    }
    next = p.slice.end;
  }
  expect(next).toBe(shape[dim]);
  expect(rebuilt).toEqual(full);
}

describe('shardSlice', () => {
  const specs = modelTensorSpecs(config);
  for (const [tp, pp] of [
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 3],
    [6, 1],
  ] as const) {
    it(`tp${tp}·pp${pp}: every tensor is rebuilt exactly from the ranks' shards`, () => {
      const all = shards(tp, pp, config);
      for (const spec of specs) {
        const full = dummyTensor(3, spec.name, spec.shape);
        const holders = all.map((s) => ({ s, slice: shardSlice(spec.name, spec.shape, s, config) }));
        const held = holders.filter((h) => h.slice !== null);
        const expert = /experts\.(\d+)\./.exec(spec.name);
        if (expert) {
          expect(held.length, spec.name).toBe(1); // one TP rank of one stage
        } else if (spec.name === 'model.embed_tokens.weight' || spec.name === 'lm_head.weight') {
          expect(held.length, spec.name).toBe(tp);
        } else {
          expect(held.length, spec.name).toBe(tp); // one stage, every TP rank of it
        }
        const pieces = held.map((h) => {
          const fromFull = takeSlice(full, spec.shape, h.slice!);
          const generated = dummyTensor(3, spec.name, spec.shape, h.slice!);
          expect(generated, `${spec.name} dummy shard`).toEqual(fromFull);
          expect(fromFull.length).toBe(h.slice!.shape.reduce((a, b) => a * b, 1));
          return { slice: h.slice!, data: fromFull };
        });
        reassemble(full, spec.shape, pieces);
      }
    });
  }

  it('ties: the last stage keeps the embedding for the LM head', () => {
    const tied = { ...config, tieWordEmbeddings: true };
    const last = shards(1, 2, tied)[1]!;
    expect(shardSlice('model.embed_tokens.weight', [101, 24], last, tied)).not.toBeNull();
    expect(shardSlice('model.embed_tokens.weight', [101, 24], last, config)).toBeNull();
  });

  it('rejects unknown names and head counts that do not split', () => {
    const s = shards(1, 1, config)[0]!;
    expect(() => shardSlice('model.layers.0.self_attn.foo.weight', [1], s, config)).toThrow(ModelError);
    expect(() => shardSlice('nonsense', [1], s, config)).toThrow(/unknown tensor name/);
    const bad = shards(5, 1, config)[0]!;
    expect(() => shardSlice('model.layers.0.self_attn.q_b_proj.weight', [72, 8], bad, config)).toThrow(
      /12 attention heads do not split evenly over 5 TP ranks/,
    );
    expect(shardSlice('model.layers.0.self_attn.rotary_emb.inv_freq', [1], s, config)).toBeNull();
  });

  it('fused routed experts split by expert along dim 0', () => {
    const s = shards(2, 1, config)[1]!;
    const sl = shardSlice('model.layers.3.mlp.experts.gate_up_proj', [7, 10, 24], s, config)!;
    expect(sl).toEqual({ dim: 0, start: 4, end: 7, shape: [3, 10, 24] });
  });
});
