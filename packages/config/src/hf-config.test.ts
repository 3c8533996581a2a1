import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { parseHfModelConfig } from './hf-config.js';
import { isMoeLayer, qkHeadDim } from './model-config.js';

// biome-ignore lint/suspicious/noApproximativeNumericConstant: the value DeepSeek ships, not 1/sqrt(2)
const MSCALE = 0.707;

/** The shape of deepseek-ai/DeepSeek-V2-Lite's config.json (values typed in by hand). */
function v2Lite(): Record<string, unknown> {
  return {
    architectures: ['DeepseekV2ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    aux_loss_alpha: 0.001,
    bos_token_id: 100000,
    eos_token_id: 100001,
    first_k_dense_replace: 1,
    hidden_act: 'silu',
    hidden_size: 2048,
    initializer_range: 0.02,
    intermediate_size: 10944,
    kv_lora_rank: 512,
    max_position_embeddings: 163840,
    model_type: 'deepseek_v2',
    moe_intermediate_size: 1408,
    moe_layer_freq: 1,
    n_group: 1,
    n_routed_experts: 64,
    n_shared_experts: 2,
    norm_topk_prob: false,
    num_attention_heads: 16,
    num_experts_per_tok: 6,
    num_hidden_layers: 27,
    num_key_value_heads: 16,
    pretraining_tp: 1,
    q_lora_rank: null,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    rms_norm_eps: 1e-6,
    rope_scaling: {
      beta_fast: 32,
      beta_slow: 1,
      factor: 40,
      mscale: MSCALE,
      mscale_all_dim: MSCALE,
      original_max_position_embeddings: 4096,
      type: 'yarn',
    },
    rope_theta: 10000,
    routed_scaling_factor: 1.0,
    scoring_func: 'softmax',
    seq_aux: true,
    tie_word_embeddings: false,
    topk_group: 1,
    topk_method: 'greedy',
    torch_dtype: 'bfloat16',
    use_cache: true,
    v_head_dim: 128,
    vocab_size: 102400,
  };
}

/** DeepSeek-V2 (236B): q_lora_rank set, grouped routing. */
function v2Full(): Record<string, unknown> {
  return {
    ...v2Lite(),
    hidden_size: 5120,
    num_hidden_layers: 60,
    num_attention_heads: 128,
    q_lora_rank: 1536,
    intermediate_size: 12288,
    moe_intermediate_size: 1536,
    n_routed_experts: 160,
    n_group: 8,
    topk_group: 3,
    topk_method: 'group_limited_greedy',
    routed_scaling_factor: 16.0,
  };
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseHfModelConfig', () => {
  it('reads a V2-Lite config (q_lora_rank null, YaRN in rope_scaling)', () => {
    const c = parseHfModelConfig(v2Lite());
    expect(c).toMatchObject({
      modelType: 'deepseek_v2',
      hiddenSize: 2048,
      numHiddenLayers: 27,
      numAttentionHeads: 16,
      qLoraRank: null,
      kvLoraRank: 512,
      qkNopeHeadDim: 128,
      qkRopeHeadDim: 64,
      vHeadDim: 128,
      intermediateSize: 10944,
      nRoutedExperts: 64,
      nSharedExperts: 2,
      numExpertsPerTok: 6,
      moeIntermediateSize: 1408,
      firstKDenseReplace: 1,
      moeLayerFreq: 1,
      topkMethod: 'greedy',
      nGroup: 1,
      topkGroup: 1,
      routedScalingFactor: 1,
      normTopkProb: false,
      scoringFunc: 'softmax',
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositionEmbeddings: 163840,
      vocabSize: 102400,
      tieWordEmbeddings: false,
      bosTokenId: 100000,
      eosTokenIds: [100001],
      torchDtype: 'bfloat16',
    });
    expect(c.rope).toEqual({
      type: 'yarn',
      factor: 40,
      originalMaxPositionEmbeddings: 4096,
      betaFast: 32,
      betaSlow: 1,
      mscale: MSCALE,
      mscaleAllDim: MSCALE,
    });
    expect(qkHeadDim(c)).toBe(192);
    expect(isMoeLayer(c, 0)).toBe(false);
    expect(isMoeLayer(c, 1)).toBe(true);
    expect(isMoeLayer(c, 26)).toBe(true);
  });

  it('reads a full V2 config (q_lora_rank set, group_limited_greedy)', () => {
    const c = parseHfModelConfig(v2Full());
    expect(c.qLoraRank).toBe(1536);
    expect(c.numAttentionHeads).toBe(128);
    expect(c.topkMethod).toBe('group_limited_greedy');
    expect([c.nGroup, c.topkGroup, c.nRoutedExperts]).toEqual([8, 3, 160]);
    expect(c.routedScalingFactor).toBe(16);
  });

  it('reads YaRN from rope_parameters (newer transformers), theta inside it', () => {
    const raw = v2Lite();
    delete raw.rope_scaling;
    delete raw.rope_theta;
    raw.rope_parameters = {
      rope_type: 'yarn',
      rope_theta: 20000,
      factor: 8,
      original_max_position_embeddings: 2048,
      mscale: 1,
      mscale_all_dim: 1,
    };
    const c = parseHfModelConfig(raw);
    expect(c.ropeTheta).toBe(20000);
    expect(c.rope).toEqual({
      type: 'yarn',
      factor: 8,
      originalMaxPositionEmbeddings: 2048,
      betaFast: 32,
      betaSlow: 1,
      mscale: 1,
      mscaleAllDim: 1,
    });
  });

  it('gives default RoPE when there is no scaling, and dense layers when experts are null', () => {
    const raw: Record<string, unknown> = {
      ...v2Lite(),
      rope_scaling: null,
      n_routed_experts: null,
      eos_token_id: [1, 2],
    };
    delete raw.rope_theta;
    const c = parseHfModelConfig(raw);
    expect(c.rope).toEqual({ type: 'default' });
    expect(c.ropeTheta).toBe(10000);
    expect(c.nRoutedExperts).toBe(0);
    expect(c.eosTokenIds).toEqual([1, 2]);
    expect(isMoeLayer(c, 5)).toBe(false);
  });

  it('refuses deepseek_v3 and other model types as not supported yet', () => {
    const v3 = errorOf(() => parseHfModelConfig({ ...v2Full(), model_type: 'deepseek_v3' }));
    expect(v3.message).toMatch(/deepseek_v3.*not supported yet/);
    expect(v3.field).toBe('model_type');
    expect(errorOf(() => parseHfModelConfig({ ...v2Lite(), model_type: 'llama' })).message).toMatch(
      /"llama" is not supported yet/,
    );
    expect(errorOf(() => parseHfModelConfig({ hidden_size: 1 })).message).toMatch(/model_type.*missing/);
  });

  it('refuses V3 features under a deepseek_v2 label', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ topk_method: 'noaux_tc' }, 'topk_method'],
      [{ scoring_func: 'sigmoid' }, 'scoring_func'],
      [{ quantization_config: { quant_method: 'fp8' } }, 'quantization_config'],
      [{ hidden_act: 'gelu' }, 'hidden_act'],
      [{ torch_dtype: 'float8_e4m3fn' }, 'torch_dtype'],
      [{ rope_scaling: { type: 'linear', factor: 2 } }, 'rope_scaling.type'],
    ];
    for (const [patch, field] of cases) {
      const e = errorOf(() => parseHfModelConfig({ ...v2Lite(), ...patch }));
      expect(e.field).toBe(field);
      expect(e.message).toContain('not supported yet');
    }
  });

  it('names a missing or malformed field', () => {
    const raw = v2Lite();
    delete raw.kv_lora_rank;
    const missing = errorOf(() => parseHfModelConfig(raw));
    expect(missing.field).toBe('kv_lora_rank');
    expect(missing.message).toContain('"kv_lora_rank"');
    const wrong = errorOf(() => parseHfModelConfig({ ...v2Lite(), num_attention_heads: '16' }));
    expect(wrong.field).toBe('num_attention_heads');
    expect(wrong.message).toContain('"16"');
    expect(errorOf(() => parseHfModelConfig({ ...v2Lite(), hidden_size: 0 })).field).toBe('hidden_size');
    expect(errorOf(() => parseHfModelConfig([])).field).toBe('(root)');
    const noQLora = v2Lite();
    delete noQLora.q_lora_rank;
    expect(errorOf(() => parseHfModelConfig(noQLora)).field).toBe('q_lora_rank');
  });

  it('checks the routing fields against each other', () => {
    const full = v2Full();
    expect(errorOf(() => parseHfModelConfig({ ...full, n_group: 7 })).field).toBe('n_group');
    expect(errorOf(() => parseHfModelConfig({ ...full, topk_group: 9 })).field).toBe('topk_group');
    expect(errorOf(() => parseHfModelConfig({ ...full, num_experts_per_tok: 161 })).field).toBe(
      'num_experts_per_tok',
    );
    expect(errorOf(() => parseHfModelConfig({ ...full, rope_scaling: { type: 'yarn' } })).field).toBe(
      'rope_scaling.factor',
    );
  });
});
