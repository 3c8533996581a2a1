/**
 * The model against the independent float64 reference forward (`test/reference-forward.ts`) on
 * small random configs with dummy weights: one prefill, chunked prefill, token-by-token decode,
 * a TP2·DCP2 layout, and a mixed batch (a request decoding next to one prefilling with context,
 * out of decode-first order).
 */
import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import { createCpuMlaBackend } from '@dcp/cpu-mla';
import { slotMapping } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { dummyTensor } from './dummy.js';
import { DeepseekV2Model } from './model.js';
import { modelTensorSpecs } from './names.js';
import { fullShard } from './sharding.js';
import { referenceForward } from './test/reference-forward.js';
import { type Layout, loadRanks, runRequest, worstRelError } from './test/run.js';
import { dummyWeightSource } from './weight-source.js';

const moeYarnBias: ModelConfig = parseHfModelConfig({
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_size: 64,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  q_lora_rank: 24,
  kv_lora_rank: 32,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 12,
  intermediate_size: 48,
  n_routed_experts: 8,
  n_shared_experts: 1,
  num_experts_per_tok: 2,
  moe_intermediate_size: 16,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  topk_method: 'group_limited_greedy',
  n_group: 4,
  topk_group: 2,
  routed_scaling_factor: 1.5,
  norm_topk_prob: false,
  attention_bias: true,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 8192,
  rope_scaling: {
    type: 'yarn',
    factor: 8,
    original_max_position_embeddings: 1024,
    beta_fast: 32,
    beta_slow: 1,
    mscale: 1,
    mscale_all_dim: 0.5,
  },
  vocab_size: 97,
  tie_word_embeddings: false,
  torch_dtype: 'float32',
});

const denseTied: ModelConfig = parseHfModelConfig({
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  q_lora_rank: null,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  intermediate_size: 40,
  n_routed_experts: null,
  first_k_dense_replace: 0,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 2048,
  vocab_size: 64,
  tie_word_embeddings: true,
  torch_dtype: 'float32',
});

function tokens(seed: number, n: number, vocab: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % vocab;
  });
}

function reference(config: ModelConfig, seed: number, ids: number[]): Float64Array {
  const full = new Map(modelTensorSpecs(config).map((t) => [t.name, dummyTensor(seed, t.name, t.shape)]));
  return referenceForward(
    config,
    (name) => {
      const t = full.get(name);
      if (!t) throw new Error(`reference asked for ${name}`);
      return t;
    },
    ids,
  );
}

describe.each([
  ['MoE + q_lora + YaRN + attention bias', moeYarnBias],
  ['dense + tied embeddings + plain RoPE', denseTied],
])('%s vs the float64 reference', (_label, config) => {
  const seed = 7;
  const ids = tokens(11, 13, config.vocabSize);
  const ref = reference(config, seed, ids);
  const layouts: Layout[] = [
    { tp: 1, pp: 1, dcp: 1 },
    { tp: 2, pp: 1, dcp: 2 },
  ];
  for (const layout of layouts) {
    it(`tp${layout.tp}·dcp${layout.dcp}: one prefill, chunks, decode`, async () => {
      const { ranks } = await loadRanks(config, dummyWeightSource(seed), layout);
      for (const chunks of [[13], [4, 4, 5], [2, ...Array<number>(11).fill(1)]]) {
        const got = await runRequest(ranks, layout, config, ids, chunks);
        expect(worstRelError(got, ref, config.vocabSize), `[${chunks.join(',')}]`).toBeLessThan(1e-4);
      }
    });
  }
});

describe('16-bit activations', () => {
  // f16 runs on one rank: the CPU communicator reduces every Uint16Array as bf16 (see the README).
  it('bf16 (tp2·dcp2) and f16 (tp1) weights and activations stay close to the float64 reference', async () => {
    const config = moeYarnBias;
    const ids = tokens(2, 9, config.vocabSize);
    const ref = reference(config, 4, ids);
    for (const [dtype, tol] of [
      ['bf16', 0.08],
      ['f16', 0.01],
    ] as const) {
      const layout: Layout =
        dtype === 'f16' ? { tp: 1, pp: 1, dcp: 1, dtype } : { tp: 2, pp: 1, dcp: 2, dtype };
      const { ranks } = await loadRanks(config, dummyWeightSource(4), layout);
      const got = await runRequest(ranks, layout, config, ids, [5, 1, 1, 1, 1]);
      const err = worstRelError(got, ref, config.vocabSize);
      expect(err, dtype).toBeLessThan(tol);
      expect(err, dtype).toBeGreaterThan(1e-5); // it really ran in 16 bits
    }
  });
});

describe('a mixed batch', () => {
  it('decode and prefill-with-context rows in one step, prefill first, three requests, on tp2·dcp2', async () => {
    const config = moeYarnBias;
    const layout: Layout = { tp: 2, pp: 1, dcp: 2 };
    const blockSize = 4;
    const a = tokens(3, 7, config.vocabSize);
    const b = tokens(5, 9, config.vocabSize);
    const c3 = tokens(8, 4, config.vocabSize);
    const refs = [reference(config, 1, a), reference(config, 1, b), reference(config, 1, c3)];
    const { ranks } = await loadRanks(config, dummyWeightSource(1), layout, blockSize, 32);
    const tables = [
      [1, 2],
      [5, 6, 7],
      [9, 3],
    ];
    const v = config.vocabSize;
    // step 1: A 0..5, B 0..3, C 0 (a one-token prefill); step 2: B 4..8 (prefill with context)
    // before two decode rows (A 6, C 1); step 3: C 2..3 (prefill with context)
    const steps = [
      { reqs: [0, 1, 2], q: [6, 4, 1], c: [0, 0, 0] },
      { reqs: [1, 0, 2], q: [5, 1, 1], c: [4, 6, 1] },
      { reqs: [2], q: [2], c: [2] },
    ];
    for (const step of steps) {
      const seqs = [a, b, c3];
      const positions: number[] = [];
      const ids: number[] = [];
      step.reqs.forEach((r, i) => {
        for (let k = 0; k < step.q[i]!; k++) {
          positions.push(step.c[i]! + k);
          ids.push(seqs[r]![step.c[i]! + k]!);
        }
      });
      const out = await Promise.all(
        ranks.map(async (rank) => {
          const slots: number[] = [];
          let row = 0;
          step.reqs.forEach((r, i) => {
            const pos = positions.slice(row, row + step.q[i]!);
            row += step.q[i]!;
            const opts = { dcp: 2, dcpRank: rank.dcpRank, interleave: 1, blockSize };
            slots.push(...slotMapping(pos, tables[r]!, opts));
          });
          const res = await rank.model.forward({
            tokenIds: ids,
            positions,
            queryLens: step.q,
            computedLens: step.c,
            blockTables: step.reqs.map((r) => tables[r]!),
            slotMapping: slots,
            logitRows: positions.map((_, i) => i),
          });
          return (await rank.model.backend.download(res.logits!)) as Float32Array;
        }),
      );
      const got = out[0]!;
      let row = 0;
      step.reqs.forEach((r, i) => {
        const ref = refs[r]!;
        for (let k = 0; k < step.q[i]!; k++, row++) {
          const p = step.c[i]! + k;
          const err = worstRelError(
            got.subarray(row * v, (row + 1) * v),
            ref.subarray(p * v, (p + 1) * v),
            v,
          );
          expect(err, `request ${r} position ${p}`).toBeLessThan(1e-4);
        }
      });
    }
  });
});

describe('forward input errors', () => {
  it('name the field: cache not allocated, bad token ids, missing hidden states', async () => {
    const config = denseTied;
    const backend = createCpuMlaBackend();
    const source = dummyWeightSource(0);
    const model = await DeepseekV2Model.load({ config, backend, shard: fullShard(config), source });
    const batch = {
      tokenIds: [1, 2],
      positions: [0, 1],
      queryLens: [2],
      computedLens: [0],
      blockTables: [[0]],
      slotMapping: [0, 1],
    };
    await expect(model.forward(batch)).rejects.toThrow(/kvCache: call allocateKvCache before forward/);
    model.allocateKvCache(2, 4);
    await expect(model.forward({ ...batch, tokenIds: [1, 64] })).rejects.toThrow(
      /tokenIds\[1\]: 64 is outside the vocabulary \[0, 64\)/,
    );
    await expect(model.forward({ ...batch, tokenIds: [1] })).rejects.toThrow(
      /tokenIds: has 1 entries for 2 rows/,
    );
    const later = { ...fullShard(config), isFirstStage: false };
    const stage2 = await DeepseekV2Model.load({ config, backend, shard: later, source });
    stage2.allocateKvCache(2, 4);
    await expect(stage2.forward(batch)).rejects.toThrow(
      /hidden: a later pipeline stage needs hidden states \[2, 48\]/,
    );
    await expect(
      DeepseekV2Model.load({ config, backend, shard: { ...later, tpSize: 2 }, source }),
    ).rejects.toThrow(/comms\.tp: a TP group communicator of size 2/);
    await expect(
      DeepseekV2Model.load({
        config,
        backend,
        shard: later,
        source,
        dtype: 'f16',
        dcp: { size: 2, rank: 0, interleave: 1 },
      }),
    ).rejects.toThrow(/comms\.dcp/);
  });
});
