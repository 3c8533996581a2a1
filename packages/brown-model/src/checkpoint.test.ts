import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBrownEvalReference, readBrownEvalSet } from './eval.js';
import { brownModelDir } from './paths.js';
import { type RefConfig, refNextTokenLogProbs } from './test/ref-forward.js';
import { readSafetensors, tensor } from './test/safetensors.js';

const cfg = JSON.parse(readFileSync(join(brownModelDir, 'config.json'), 'utf8'));
const st = readSafetensors(join(brownModelDir, 'model.safetensors'));

/** Every tensor the checkpoint must hold, from the config alone (original Hugging Face layout). */
function expectedShapes(): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const hid = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const qd = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim;
  m.set('model.embed_tokens.weight', [cfg.vocab_size, hid]);
  m.set('lm_head.weight', [cfg.vocab_size, hid]);
  m.set('model.norm.weight', [hid]);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [hid]);
    m.set(`${p}post_attention_layernorm.weight`, [hid]);
    m.set(`${p}self_attn.q_proj.weight`, [H * qd, hid]);
    m.set(`${p}self_attn.kv_a_proj_with_mqa.weight`, [cfg.kv_lora_rank + cfg.qk_rope_head_dim, hid]);
    m.set(`${p}self_attn.kv_a_layernorm.weight`, [cfg.kv_lora_rank]);
    m.set(`${p}self_attn.kv_b_proj.weight`, [H * (cfg.qk_nope_head_dim + cfg.v_head_dim), cfg.kv_lora_rank]);
    m.set(`${p}self_attn.o_proj.weight`, [hid, H * cfg.v_head_dim]);
    const ffn = (pre: string, inter: number) => {
      m.set(`${pre}gate_proj.weight`, [inter, hid]);
      m.set(`${pre}up_proj.weight`, [inter, hid]);
      m.set(`${pre}down_proj.weight`, [hid, inter]);
    };
    if (l < cfg.first_k_dense_replace) ffn(`${p}mlp.`, cfg.intermediate_size);
    else {
      m.set(`${p}mlp.gate.weight`, [cfg.n_routed_experts, hid]);
      for (let e = 0; e < cfg.n_routed_experts; e++) ffn(`${p}mlp.experts.${e}.`, cfg.moe_intermediate_size);
      ffn(`${p}mlp.shared_experts.`, cfg.moe_intermediate_size * cfg.n_shared_experts);
    }
  }
  return m;
}

describe('model.safetensors', () => {
  it('holds exactly the tensors of the config, bf16, packed back to back', () => {
    const want = expectedShapes();
    expect(Object.keys(st.header).sort()).toEqual([...want.keys()].sort());
    const spans: [number, number][] = [];
    let params = 0;
    for (const [name, info] of Object.entries(st.header)) {
      expect(info.dtype, name).toBe('BF16');
      expect(info.shape, name).toEqual(want.get(name));
      const n = info.shape.reduce((a, b) => a * b, 1);
      expect(info.data_offsets[1] - info.data_offsets[0], name).toBe(2 * n);
      spans.push(info.data_offsets);
      params += n;
    }
    spans.sort((a, b) => a[0] - b[0]);
    spans.forEach(([a], i) => {
      expect(a).toBe(i === 0 ? 0 : spans[i - 1]?.[1]);
    });
    expect(st.dataStart + (spans.at(-1)?.[1] ?? 0)).toBe(st.bytes.length);
    expect(params).toBe(7_653_632);
  });

  it('is finite and trained (norm gains moved away from their initial 1)', () => {
    for (const name of Object.keys(st.header)) {
      const t = tensor(st, name);
      expect(
        t.every((v) => Number.isFinite(v)),
        name,
      ).toBe(true);
    }
    const gains = tensor(st, 'model.layers.2.post_attention_layernorm.weight');
    expect(Math.max(...gains.map((v) => Math.abs(v - 1)))).toBeGreaterThan(0.05);
  });
});

describe('the reference figures come from this checkpoint', () => {
  const set = readBrownEvalSet();
  const ref = readBrownEvalReference();
  const cache = new Map<string, Float64Array>();
  const W = (name: string) => {
    let t = cache.get(name);
    if (!t) cache.set(name, (t = tensor(st, name)));
    return t;
  };
  const sizes = { intermediate: cfg.intermediate_size, moeIntermediate: cfg.moe_intermediate_size };
  // Two windows from different genres (press reportage; fiction).
  for (const index of [0, 40]) {
    it(`an independent float64 forward pass reproduces window ${index}'s NLL and hits`, {
      timeout: 120_000,
    }, () => {
      const w = set.windows[index];
      const r = ref.per_window[index];
      if (!w || !r) throw new Error(`no window ${index}`);
      expect(r.doc).toBe(w.doc);
      const { logp, hit } = refNextTokenLogProbs(cfg as RefConfig, W, w.ids, sizes);
      const nll = -logp.reduce((a, b) => a + b, 0);
      // transformers in float64 on the CPU (same bf16 weights); its RoPE still runs in float32
      // (apply_rotary_emb casts to float), which alone moves a window's NLL by ~1e-8 relative.
      const nll64 = ref.fp64_cpu_check.per_window_nll[index] as number;
      expect(Math.abs(nll - nll64) / nll64).toBeLessThan(2e-7);
      // the fp32 reference figure
      expect(Math.abs(nll - r.nll) / r.nll).toBeLessThan(1e-6);
      expect(hit.filter(Boolean).length).toBe(r.correct);
    });
  }
});
