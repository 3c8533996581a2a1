// An independent float64 DeepSeek-V2 forward pass for the tests, written from the DeepSeek-V2
// paper's conventions (MLA with a decoupled RoPE key shared by all heads, RoPE on interleaved
// pairs, softmax top-k routing without renormalisation, shared experts), not from transformers.

/** The config.json keys the forward pass uses. */
export interface RefConfig {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  kv_lora_rank: number;
  qk_nope_head_dim: number;
  qk_rope_head_dim: number;
  v_head_dim: number;
  first_k_dense_replace: number;
  n_routed_experts: number;
  num_experts_per_tok: number;
  routed_scaling_factor: number;
  rms_norm_eps: number;
  rope_theta: number;
  vocab_size: number;
}

type Weights = (name: string) => Float64Array;

/** y = W x for a torch Linear weight W [out, in] (row-major). */
function linear(w: Float64Array, x: Float64Array, out: number): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    const base = o * n;
    for (let i = 0; i < n; i++) s += (w[base + i] as number) * (x[i] as number);
    y[o] = s;
  }
  return y;
}

function rms(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * (w[i] as number));
}

const silu = (v: number) => v / (1 + Math.exp(-v));

function mlp(W: Weights, pre: string, h: Float64Array, inter: number): Float64Array {
  const g = linear(W(`${pre}gate_proj.weight`), h, inter);
  const u = linear(W(`${pre}up_proj.weight`), h, inter);
  return linear(
    W(`${pre}down_proj.weight`),
    g.map((v, i) => silu(v) * (u[i] as number)),
    h.length,
  );
}

/** Rotates consecutive pairs (x[2i], x[2i+1]) of `x[off..off+d)` in place by pos * theta^(-2i/d). */
function rope(x: Float64Array, off: number, d: number, pos: number, theta: number): void {
  for (let i = 0; i < d / 2; i++) {
    const ang = pos * theta ** (-(2 * i) / d);
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    const a = x[off + 2 * i] as number;
    const b = x[off + 2 * i + 1] as number;
    x[off + 2 * i] = a * c - b * s;
    x[off + 2 * i + 1] = a * s + b * c;
  }
}

/**
 * Log-probabilities of `ids[t + 1]` after `ids[0..t]`, for t = 0 .. ids.length - 2 (one causal pass
 * from position 0), plus whether the argmax was that token.
 */
export function refNextTokenLogProbs(
  cfg: RefConfig,
  W: Weights,
  ids: readonly number[],
  sizes: { intermediate: number; moeIntermediate: number },
): { logp: number[]; hit: boolean[] } {
  const H = cfg.num_attention_heads;
  const nope = cfg.qk_nope_head_dim;
  const rd = cfg.qk_rope_head_dim;
  const vd = cfg.v_head_dim;
  const qd = nope + rd;
  const R = cfg.kv_lora_rank;
  const hid = cfg.hidden_size;
  const eps = cfg.rms_norm_eps;
  const T = ids.length;
  const scale = 1 / Math.sqrt(qd);
  const emb = W('model.embed_tokens.weight');
  let xs = ids.map((id) => emb.slice(id * hid, (id + 1) * hid));
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    const hs = xs.map((x) => rms(x, W(`${p}input_layernorm.weight`), eps));
    const q = hs.map((h, t) => {
      const v = linear(W(`${p}self_attn.q_proj.weight`), h, H * qd);
      for (let hd = 0; hd < H; hd++) rope(v, hd * qd + nope, rd, t, cfg.rope_theta);
      return v;
    });
    const kpe: Float64Array[] = [];
    const kv = hs.map((h, t) => {
      const ckv = linear(W(`${p}self_attn.kv_a_proj_with_mqa.weight`), h, R + rd);
      const k = ckv.slice(R);
      rope(k, 0, rd, t, cfg.rope_theta);
      kpe.push(k);
      const c = rms(ckv.slice(0, R), W(`${p}self_attn.kv_a_layernorm.weight`), eps);
      return linear(W(`${p}self_attn.kv_b_proj.weight`), c, H * (nope + vd)); // per head: k_nope | v
    });
    xs = xs.map((x, t) => {
      const o = new Float64Array(H * vd);
      const qt = q[t] as Float64Array;
      for (let hd = 0; hd < H; hd++) {
        const s = new Float64Array(t + 1);
        let m = -Infinity;
        for (let j = 0; j <= t; j++) {
          const kvj = kv[j] as Float64Array;
          const kj = kpe[j] as Float64Array;
          let dot = 0;
          for (let i = 0; i < nope; i++)
            dot += (qt[hd * qd + i] as number) * (kvj[hd * (nope + vd) + i] as number);
          for (let i = 0; i < rd; i++) dot += (qt[hd * qd + nope + i] as number) * (kj[i] as number);
          s[j] = dot * scale;
          m = Math.max(m, s[j] as number);
        }
        let z = 0;
        for (let j = 0; j <= t; j++) z += s[j] = Math.exp((s[j] as number) - m);
        for (let j = 0; j <= t; j++) {
          const kvj = kv[j] as Float64Array;
          for (let i = 0; i < vd; i++) {
            o[hd * vd + i] =
              (o[hd * vd + i] as number) +
              ((s[j] as number) / z) * (kvj[hd * (nope + vd) + nope + i] as number);
          }
        }
      }
      const a = linear(W(`${p}self_attn.o_proj.weight`), o, hid);
      const x1 = x.map((v, i) => v + (a[i] as number));
      const h = rms(x1, W(`${p}post_attention_layernorm.weight`), eps);
      let y: Float64Array;
      if (l < cfg.first_k_dense_replace) y = mlp(W, `${p}mlp.`, h, sizes.intermediate);
      else {
        const logits = linear(W(`${p}mlp.gate.weight`), h, cfg.n_routed_experts);
        const mx = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - mx));
        const z = e.reduce((s1, v) => s1 + v, 0);
        const probs = [...e].map((v, i) => ({ i, p: v / z })).sort((u, w) => w.p - u.p);
        y = mlp(W, `${p}mlp.shared_experts.`, h, sizes.moeIntermediate);
        for (const { i, p: pr } of probs.slice(0, cfg.num_experts_per_tok)) {
          const ye = mlp(W, `${p}mlp.experts.${i}.`, h, sizes.moeIntermediate);
          y = y.map((v, k) => v + pr * cfg.routed_scaling_factor * (ye[k] as number));
        }
      }
      return x1.map((v, i) => v + (y[i] as number));
    });
  }
  const logp: number[] = [];
  const hit: boolean[] = [];
  for (let t = 0; t + 1 < T; t++) {
    const h = rms(xs[t] as Float64Array, W('model.norm.weight'), eps);
    const lg = linear(W('lm_head.weight'), h, cfg.vocab_size);
    let m = -Infinity;
    let arg = 0;
    lg.forEach((v, i) => {
      if (v > m) {
        m = v;
        arg = i;
      }
    });
    let z = 0;
    for (const v of lg) z += Math.exp(v - m);
    const target = ids[t + 1] as number;
    logp.push((lg[target] as number) - m - Math.log(z));
    hit.push(arg === target);
  }
  return { logp, hit };
}
