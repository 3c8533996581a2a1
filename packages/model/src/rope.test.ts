/** RoPE/YaRN constants against values worked out by hand from the YaRN paper's formulas. */
import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import { describe, expect, it } from 'vitest';
import { ropeCosSin, ropeTables, yarnMscale } from './rope.js';

function config(ropeScaling: unknown): ModelConfig {
  return parseHfModelConfig({
    architectures: ['DeepseekV2ForCausalLM'],
    model_type: 'deepseek_v2',
    hidden_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    kv_lora_rank: 16,
    q_lora_rank: null,
    qk_nope_head_dim: 16,
    qk_rope_head_dim: 16,
    v_head_dim: 16,
    intermediate_size: 32,
    n_routed_experts: null,
    vocab_size: 16,
    rope_theta: 10000,
    max_position_embeddings: 65536,
    rope_scaling: ropeScaling,
  });
}

describe('ropeTables', () => {
  it('plain RoPE: base^(-2i/d), no scaling, 1/sqrt(qk_head_dim)', () => {
    const t = ropeTables(config(null));
    expect(t.invFreq[0]).toBe(1);
    expect(t.invFreq[1]).toBeCloseTo(10000 ** (-2 / 16), 15);
    expect(t.cosSinScale).toBe(1);
    expect(t.softmaxScale).toBeCloseTo(1 / Math.sqrt(32), 15);
  });

  it('YaRN: extrapolated high frequencies, interpolated low ones, a linear ramp between', () => {
    const t = ropeTables(
      config({
        type: 'yarn',
        factor: 8,
        original_max_position_embeddings: 4096,
        beta_fast: 32,
        beta_slow: 1,
        mscale: 1,
        mscale_all_dim: 0.5,
      }),
    );
    // correction dims: d·ln(4096/(2π·β)) / (2 ln 10000) for β = 32 and 1 → floor 2, ceil 6
    const low = 2;
    const high = 6;
    for (let i = 0; i < 8; i++) {
      const plain = 10000 ** ((-2 * i) / 16);
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      expect(t.invFreq[i]).toBeCloseTo(plain * (1 - ramp) + (plain / 8) * ramp, 15);
    }
    expect(t.cosSinScale).toBeCloseTo((0.1 * Math.log(8) + 1) / (0.05 * Math.log(8) + 1), 14);
    expect(t.softmaxScale).toBeCloseTo((0.05 * Math.log(8) + 1) ** 2 / Math.sqrt(32), 14);
  });

  it('YaRN without mscale_all_dim scales cos/sin by 0.1·ln(factor)+1 and keeps the softmax scale', () => {
    const t = ropeTables(config({ type: 'yarn', factor: 4, original_max_position_embeddings: 1024 }));
    expect(t.cosSinScale).toBeCloseTo(0.1 * Math.log(4) + 1, 14);
    expect(t.softmaxScale).toBeCloseTo(1 / Math.sqrt(32), 15);
    expect(yarnMscale(1, 5)).toBe(1);
  });

  it('cos/sin tables follow the float32 angle of transformers', () => {
    const t = ropeTables(config(null));
    const { cos, sin } = ropeCosSin(t, [0, 3, 1000]);
    expect(cos[0]).toBe(1);
    expect(sin[8 * 1 + 1]).toBeCloseTo(Math.sin(Math.fround(Math.fround(10000 ** (-2 / 16)) * 3)), 7);
    expect(cos[8 * 2 + 7]).toBeCloseTo(Math.cos(Math.fround(Math.fround(10000 ** (-14 / 16)) * 1000)), 7);
  });
});
