import type { AttentionBackend, FloatDType, Tensor } from '@dcp/backend';
import { isMoeLayer, type ModelConfig } from '@dcp/config';
import { toHostData } from './dtype.js';
import { layerTensorSpecs } from './names.js';
import { expertRange, localHeads, type ModelShard } from './sharding.js';
import { planTensors, type WeightReader } from './weight-source.js';

/** A gate‖up fused MLP on this rank: `gateUp` `[2·I, hidden]`, `down` `[hidden, I]` (local I). */
export interface MlpWeights<T extends Tensor> {
  gateUp: T;
  down: T;
  inter: number;
}

/** MLA attention weights of one layer on this rank (`N` local heads). */
export interface AttnWeights<T extends Tensor> {
  /** `[N·qkHeadDim, hidden]` when there is no q LoRA. */
  qProj: T | null;
  /** `[qLoraRank, hidden]`, its norm `[qLoraRank]` and bias (or null), and `[N·qkHeadDim, qLoraRank]`. */
  qA: T | null;
  qABias: T | null;
  qANorm: T | null;
  qB: T | null;
  /** `[kvLoraRank + rope, hidden]` and its bias (or null). */
  kvA: T;
  kvABias: T | null;
  /** `[kvLoraRank]`. */
  kvANorm: T;
  /** `[N·(nope + v), kvLoraRank]` (prefill up-projection). */
  kvB: T;
  /** `[N, nope, kvLoraRank]`: `q_nope · W_UK` gives the latent query. */
  wUK: T;
  /** `[N, v, kvLoraRank]`: the latent output times `W_UVᵀ` gives the head output. */
  wUV: T;
  /** `[hidden, N·v]` (row-parallel) and its bias on TP rank 0 only (or null). */
  oProj: T;
  oBias: T | null;
}

/** MoE weights of one layer on this rank. */
export interface MoeWeights<T extends Tensor> {
  /** Router `[E, hidden]`, replicated. */
  gate: T;
  /** This rank's experts `[expertStart, expertStart + E_local)`: `[E_local, 2I, hidden]`, `[E_local, hidden, I]`. */
  gateUp: T | null;
  down: T | null;
  expertStart: number;
  numLocalExperts: number;
  shared: MlpWeights<T> | null;
}

/** One decoder layer on this rank. */
export interface LayerWeights<T extends Tensor> {
  index: number;
  inputNorm: T;
  postNorm: T;
  attn: AttnWeights<T>;
  mlp: { kind: 'dense'; dense: MlpWeights<T> } | { kind: 'moe'; moe: MoeWeights<T> };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Splits kv_b `[N·(nope+v), L]` into `W_UK` `[N, nope, L]` and `W_UV` `[N, v, L]`. */
export function splitKvB(
  kvB: Float32Array,
  heads: number,
  nope: number,
  v: number,
  lkv: number,
): { wUK: Float32Array; wUV: Float32Array } {
  const wUK = new Float32Array(heads * nope * lkv);
  const wUV = new Float32Array(heads * v * lkv);
  for (let h = 0; h < heads; h++) {
    const base = h * (nope + v) * lkv;
    wUK.set(kvB.subarray(base, base + nope * lkv), h * nope * lkv);
    wUV.set(kvB.subarray(base + nope * lkv, base + (nope + v) * lkv), h * v * lkv);
  }
  return { wUK, wUV };
}

/** Reads decoder layer `index`'s tensors for this rank, fuses them and uploads them. */
export async function loadLayer<T extends Tensor, B>(
  backend: AttentionBackend<T, B>,
  config: ModelConfig,
  shard: ModelShard,
  index: number,
  reader: WeightReader,
  dtype: FloatDType,
): Promise<LayerWeights<T>> {
  const planned = planTensors(layerTensorSpecs(config, index), shard, config);
  const host = new Map<string, Float32Array>();
  for (const t of planned) host.set(t.name, await reader.read(t));
  const p = `model.layers.${index}.`;
  const get = (suffix: string): Float32Array => {
    const v = host.get(p + suffix);
    if (!v) throw new Error(`internal: ${p}${suffix} was not planned`);
    return v;
  };
  const opt = (suffix: string) => host.get(p + suffix) ?? null;
  const up = (data: Float32Array, shape: number[], dt: FloatDType = dtype) =>
    backend.upload(toHostData(data, dt), shape, dt);
  const upOpt = (data: Float32Array | null, shape: number[]) => (data ? up(data, shape) : null);

  const h = config.hiddenSize;
  const heads = localHeads(config, shard);
  const n = heads.end - heads.start;
  const qk = config.qkNopeHeadDim + config.qkRopeHeadDim;
  const lkv = config.kvLoraRank;
  const lq = config.qLoraRank;
  const latent = lkv + config.qkRopeHeadDim;
  const kvBHost = get('self_attn.kv_b_proj.weight');
  const { wUK, wUV } = splitKvB(kvBHost, n, config.qkNopeHeadDim, config.vHeadDim, lkv);
  const attn: AttnWeights<T> = {
    qProj: lq === null ? up(get('self_attn.q_proj.weight'), [n * qk, h]) : null,
    qA: lq === null ? null : up(get('self_attn.q_a_proj.weight'), [lq, h]),
    qABias: lq === null ? null : upOpt(opt('self_attn.q_a_proj.bias'), [1, lq]),
    qANorm: lq === null ? null : up(get('self_attn.q_a_layernorm.weight'), [lq]),
    qB: lq === null ? null : up(get('self_attn.q_b_proj.weight'), [n * qk, lq]),
    kvA: up(get('self_attn.kv_a_proj_with_mqa.weight'), [latent, h]),
    kvABias: upOpt(opt('self_attn.kv_a_proj_with_mqa.bias'), [1, latent]),
    kvANorm: up(get('self_attn.kv_a_layernorm.weight'), [lkv]),
    kvB: up(kvBHost, [n * (config.qkNopeHeadDim + config.vHeadDim), lkv]),
    wUK: up(wUK, [n, config.qkNopeHeadDim, lkv]),
    wUV: up(wUV, [n, config.vHeadDim, lkv]),
    oProj: up(get('self_attn.o_proj.weight'), [h, n * config.vHeadDim]),
    oBias: shard.tpRank === 0 ? upOpt(opt('self_attn.o_proj.bias'), [1, h]) : null,
  };
  const mlp = (prefix: string): MlpWeights<T> => {
    const gate = get(`${prefix}gate_proj.weight`);
    const inter = gate.length / h;
    return {
      gateUp: up(concat([gate, get(`${prefix}up_proj.weight`)]), [2 * inter, h]),
      down: up(get(`${prefix}down_proj.weight`), [h, inter]),
      inter,
    };
  };
  const layer: LayerWeights<T> = {
    index,
    inputNorm: up(get('input_layernorm.weight'), [h]),
    postNorm: up(get('post_attention_layernorm.weight'), [h]),
    attn,
    mlp: { kind: 'dense', dense: null as unknown as MlpWeights<T> },
  };
  if (!isMoeLayer(config, index)) {
    layer.mlp = { kind: 'dense', dense: mlp('mlp.') };
    return layer;
  }
  const experts = expertRange(config, shard);
  const el = experts.end - experts.start;
  const inter = config.moeIntermediateSize;
  const gateUps: Float32Array[] = [];
  const downs: Float32Array[] = [];
  for (let e = experts.start; e < experts.end; e++) {
    gateUps.push(get(`mlp.experts.${e}.gate_proj.weight`), get(`mlp.experts.${e}.up_proj.weight`));
    downs.push(get(`mlp.experts.${e}.down_proj.weight`));
  }
  layer.mlp = {
    kind: 'moe',
    moe: {
      gate: up(get('mlp.gate.weight'), [config.nRoutedExperts, h], 'f32'), // HF routes in f32
      gateUp: el > 0 ? up(concat(gateUps), [el, 2 * inter, h]) : null,
      down: el > 0 ? up(concat(downs), [el, h, inter]) : null,
      expertStart: experts.start,
      numLocalExperts: el,
      shared: config.nSharedExperts > 0 ? mlp('mlp.shared_experts.') : null,
    },
  };
  return layer;
}

/** Every tensor handle of a layer (to dispose them). */
export function layerTensors<T extends Tensor>(l: LayerWeights<T>): T[] {
  const a = l.attn;
  const out: (T | null)[] = [
    l.inputNorm,
    l.postNorm,
    a.qProj,
    a.qA,
    a.qABias,
    a.qANorm,
    a.qB,
    a.kvA,
    a.kvABias,
  ];
  out.push(a.kvANorm, a.kvB, a.wUK, a.wUV, a.oProj, a.oBias);
  if (l.mlp.kind === 'dense') out.push(l.mlp.dense.gateUp, l.mlp.dense.down);
  else {
    const m = l.mlp.moe;
    out.push(m.gate, m.gateUp, m.down, m.shared?.gateUp ?? null, m.shared?.down ?? null);
  }
  return out.filter((t): t is T => t !== null);
}
