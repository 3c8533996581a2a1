/**
 * An independent float64 forward pass of Hugging Face transformers' `DeepseekV2ForCausalLM`, in
 * plain loops over the published formulas (no backend op, no code shared with the model): the
 * oracle of the model tests. Causal attention over one sequence starting at position 0.
 */
import type { ModelConfig } from '@dcp/config';

/** Full (unsharded) weights by Hugging Face name. */
export type WeightGetter = (name: string) => ArrayLike<number>;

function linear(x: Float64Array, rows: number, w: ArrayLike<number>, out: number, inp: number): Float64Array {
  const y = new Float64Array(rows * out);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inp; i++) s += x[t * inp + i]! * w[o * inp + i]!;
      y[t * out + o] = s;
    }
  }
  return y;
}

function rmsnorm(
  x: Float64Array,
  rows: number,
  dim: number,
  w: ArrayLike<number>,
  eps: number,
): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let t = 0; t < rows; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i]! ** 2;
    const r = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = w[i]! * x[t * dim + i]! * r;
  }
  return y;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

function mlp(
  x: Float64Array,
  rows: number,
  h: number,
  inter: number,
  get: WeightGetter,
  p: string,
): Float64Array {
  const g = linear(x, rows, get(`${p}gate_proj.weight`), inter, h);
  const u = linear(x, rows, get(`${p}up_proj.weight`), inter, h);
  for (let i = 0; i < g.length; i++) g[i] = silu(g[i]!) * u[i]!;
  return linear(g, rows, get(`${p}down_proj.weight`), h, inter);
}

/** YaRN-aware rope constants, recomputed here from the formulas (not imported from the model). */
function rope(config: ModelConfig) {
  const dim = config.qkRopeHeadDim;
  const base = config.ropeTheta;
  const inv: number[] = [];
  for (let i = 0; i < dim / 2; i++) inv.push(base ** (-(2 * i) / dim));
  let attnFactor = 1;
  let scale = 1 / Math.sqrt(config.qkNopeHeadDim + config.qkRopeHeadDim);
  const r = config.rope;
  if (r.type === 'yarn') {
    const ms = (s: number, m: number) => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
    const cd = (rot: number) =>
      (dim * Math.log(r.originalMaxPositionEmbeddings / (rot * 2 * Math.PI))) / (2 * Math.log(base));
    const lo = Math.max(Math.floor(cd(r.betaFast)), 0);
    let hi = Math.min(Math.ceil(cd(r.betaSlow)), dim - 1);
    if (hi === lo) hi += 0.001;
    for (let i = 0; i < dim / 2; i++) {
      const ramp = Math.min(1, Math.max(0, (i - lo) / (hi - lo)));
      // ramp 0 → keep the original frequency (extrapolate), ramp 1 → divide by factor (interpolate)
      inv[i] = inv[i]! * (1 - ramp) + (inv[i]! / r.factor) * ramp;
    }
    attnFactor =
      r.mscale && r.mscaleAllDim ? ms(r.factor, r.mscale) / ms(r.factor, r.mscaleAllDim) : ms(r.factor, 1);
    scale *= ms(r.factor, r.mscaleAllDim) ** 2;
  }
  return { inv, attnFactor, scale };
}

/** Rotates interleaved pairs of `v[off..off+dim)` in place for position `pos`. */
function rotate(v: Float64Array, off: number, dim: number, pos: number, rp: ReturnType<typeof rope>): void {
  for (let i = 0; i < dim / 2; i++) {
    const ang = Math.fround(Math.fround(rp.inv[i]!) * pos);
    const c = Math.cos(ang) * rp.attnFactor;
    const s = Math.sin(ang) * rp.attnFactor;
    const a = v[off + 2 * i]!;
    const b = v[off + 2 * i + 1]!;
    v[off + 2 * i] = a * c - b * s;
    v[off + 2 * i + 1] = a * s + b * c;
  }
}

function attention(
  config: ModelConfig,
  x: Float64Array,
  T: number,
  get: WeightGetter,
  p: string,
): Float64Array {
  const h = config.hiddenSize;
  const n = config.numAttentionHeads;
  const dn = config.qkNopeHeadDim;
  const dr = config.qkRopeHeadDim;
  const dq = dn + dr;
  const dv = config.vHeadDim;
  const lkv = config.kvLoraRank;
  const rp = rope(config);
  let q: Float64Array;
  if (config.qLoraRank === null) {
    q = linear(x, T, get(`${p}q_proj.weight`), n * dq, h);
  } else {
    const lq = config.qLoraRank;
    let qa = linear(x, T, get(`${p}q_a_proj.weight`), lq, h);
    if (config.attentionBias) addBias(qa, get(`${p}q_a_proj.bias`));
    qa = rmsnorm(qa, T, lq, get(`${p}q_a_layernorm.weight`), 1e-6);
    q = linear(qa, T, get(`${p}q_b_proj.weight`), n * dq, lq);
  }
  const kva = linear(x, T, get(`${p}kv_a_proj_with_mqa.weight`), lkv + dr, h);
  if (config.attentionBias) addBias(kva, get(`${p}kv_a_proj_with_mqa.bias`));
  const kvc = new Float64Array(T * lkv);
  const kpe = new Float64Array(T * dr);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < lkv; i++) kvc[t * lkv + i] = kva[t * (lkv + dr) + i]!;
    for (let i = 0; i < dr; i++) kpe[t * dr + i] = kva[t * (lkv + dr) + lkv + i]!;
    rotate(kpe, t * dr, dr, t, rp);
    for (let hd = 0; hd < n; hd++) rotate(q, (t * n + hd) * dq + dn, dr, t, rp);
  }
  const kvn = rmsnorm(kvc, T, lkv, get(`${p}kv_a_layernorm.weight`), 1e-6);
  const kvb = linear(kvn, T, get(`${p}kv_b_proj.weight`), n * (dn + dv), lkv);
  const out = new Float64Array(T * n * dv);
  const scores = new Float64Array(T);
  for (let hd = 0; hd < n; hd++) {
    for (let t = 0; t < T; t++) {
      let mx = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < dn; i++) dot += q[(t * n + hd) * dq + i]! * kvb[(s * n + hd) * (dn + dv) + i]!;
        for (let i = 0; i < dr; i++) dot += q[(t * n + hd) * dq + dn + i]! * kpe[s * dr + i]!;
        scores[s] = dot * rp.scale;
        mx = Math.max(mx, scores[s]!);
      }
      let den = 0;
      for (let s = 0; s <= t; s++) den += scores[s] = Math.exp(scores[s]! - mx);
      for (let s = 0; s <= t; s++) {
        const w = scores[s]! / den;
        for (let i = 0; i < dv; i++)
          out[(t * n + hd) * dv + i]! += w * kvb[(s * n + hd) * (dn + dv) + dn + i]!;
      }
    }
  }
  const o = linear(out, T, get(`${p}o_proj.weight`), h, n * dv);
  if (config.attentionBias) addBias(o, get(`${p}o_proj.bias`));
  return o;
}

function addBias(x: Float64Array, b: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) x[i]! += b[i % b.length]!;
}

function topk(scores: Float64Array, k: number): number[] {
  const idx = Array.from(scores.keys());
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx.slice(0, k);
}

function moe(config: ModelConfig, x: Float64Array, T: number, get: WeightGetter, p: string): Float64Array {
  const h = config.hiddenSize;
  const e = config.nRoutedExperts;
  const logits = linear(x, T, get(`${p}gate.weight`), e, h);
  const out = new Float64Array(T * h);
  for (let t = 0; t < T; t++) {
    const probs = new Float64Array(e);
    let mx = -Infinity;
    for (let j = 0; j < e; j++) mx = Math.max(mx, logits[t * e + j]!);
    let den = 0;
    for (let j = 0; j < e; j++) den += probs[j] = Math.exp(logits[t * e + j]! - mx);
    for (let j = 0; j < e; j++) probs[j]! /= den;
    let masked = probs;
    if (config.topkMethod === 'group_limited_greedy') {
      const per = e / config.nGroup;
      const groupMax = new Float64Array(config.nGroup);
      for (let g = 0; g < config.nGroup; g++) {
        groupMax[g] = Math.max(...Array.from(probs.subarray(g * per, (g + 1) * per)));
      }
      const keep = new Set(topk(groupMax, config.topkGroup));
      masked = probs.map((v, j) => (keep.has(Math.floor(j / per)) ? v : 0));
    }
    const row = x.subarray(t * h, (t + 1) * h);
    for (const j of topk(masked, config.numExpertsPerTok)) {
      const w = masked[j]! * config.routedScalingFactor;
      const y = mlp(row, 1, h, config.moeIntermediateSize, get, `${p}experts.${j}.`);
      for (let i = 0; i < h; i++) out[t * h + i]! += w * y[i]!;
    }
  }
  if (config.nSharedExperts > 0) {
    const s = mlp(x, T, h, config.moeIntermediateSize * config.nSharedExperts, get, `${p}shared_experts.`);
    for (let i = 0; i < out.length; i++) out[i]! += s[i]!;
  }
  return out;
}

/** Logits `[tokens.length, vocabSize]` of the causal forward over `tokens` (positions 0..T-1). */
export function referenceForward(
  config: ModelConfig,
  get: WeightGetter,
  tokens: readonly number[],
): Float64Array {
  const T = tokens.length;
  const h = config.hiddenSize;
  const emb = get('model.embed_tokens.weight');
  let x: Float64Array = new Float64Array(T * h);
  for (let t = 0; t < T; t++) for (let i = 0; i < h; i++) x[t * h + i] = emb[tokens[t]! * h + i]!;
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = attention(
      config,
      rmsnorm(x, T, h, get(`${p}input_layernorm.weight`), config.rmsNormEps),
      T,
      get,
      `${p}self_attn.`,
    );
    for (let i = 0; i < x.length; i++) x[i]! += a[i]!;
    const xn = rmsnorm(x, T, h, get(`${p}post_attention_layernorm.weight`), config.rmsNormEps);
    const isMoe =
      config.nRoutedExperts > 0 && l >= config.firstKDenseReplace && l % config.moeLayerFreq === 0;
    const m = isMoe
      ? moe(config, xn, T, get, `${p}mlp.`)
      : mlp(xn, T, h, config.intermediateSize, get, `${p}mlp.`);
    for (let i = 0; i < x.length; i++) x[i]! += m[i]!;
  }
  x = rmsnorm(x, T, h, get('model.norm.weight'), config.rmsNormEps);
  const head = config.tieWordEmbeddings ? emb : get('lm_head.weight');
  return linear(x, T, head, config.vocabSize, h);
}
