import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { ModelConfig, RopeConfig, TopkMethod, TorchDtype } from './model-config.js';
import { zodToConfigError } from './zod-error.js';

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const posNum = z.number().positive();

const ropeSchema = z.object({
  type: z.string().optional(),
  rope_type: z.string().optional(),
  rope_theta: posNum.optional(),
  factor: posNum.optional(),
  original_max_position_embeddings: posInt.optional(),
  beta_fast: z.number().optional(),
  beta_slow: z.number().optional(),
  mscale: z.number().optional(),
  mscale_all_dim: z.number().optional(),
});

/** The keys of a DeepSeek-V2 `config.json` that dcp reads, with the Hugging Face defaults. */
const hfSchema = z.object({
  hidden_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  q_lora_rank: posInt.nullable(),
  kv_lora_rank: posInt,
  qk_nope_head_dim: posInt,
  qk_rope_head_dim: posInt,
  v_head_dim: posInt,
  intermediate_size: posInt,
  hidden_act: z.string().default('silu'),
  n_routed_experts: posInt.nullable().default(null),
  n_shared_experts: nonNegInt.nullable().default(null),
  num_experts_per_tok: posInt.nullable().default(null),
  moe_intermediate_size: posInt.nullable().default(null),
  first_k_dense_replace: nonNegInt.default(0),
  moe_layer_freq: posInt.default(1),
  topk_method: z.string().default('greedy'),
  n_group: posInt.nullable().default(null),
  topk_group: posInt.nullable().default(null),
  routed_scaling_factor: posNum.default(1),
  norm_topk_prob: z.boolean().default(false),
  scoring_func: z.string().default('softmax'),
  attention_bias: z.boolean().default(false),
  rms_norm_eps: posNum.default(1e-6),
  rope_theta: posNum.optional(),
  rope_scaling: ropeSchema.nullable().optional(),
  rope_parameters: ropeSchema.nullable().optional(),
  max_position_embeddings: posInt,
  vocab_size: posInt,
  tie_word_embeddings: z.boolean().default(false),
  bos_token_id: nonNegInt.nullable().default(null),
  eos_token_id: z
    .union([nonNegInt, z.array(nonNegInt)])
    .nullable()
    .default(null),
  torch_dtype: z.string().nullable().optional(),
  dtype: z.string().nullable().optional(),
});
type HfConfig = z.infer<typeof hfSchema>;

function refuse(source: string, field: string, what: string): ConfigError {
  return new ConfigError(`${source}: ${what} is not supported yet; dcp runs DeepSeek-V2 (deepseek_v2) only`, {
    field,
  });
}

function bad(source: string, field: string, what: string): ConfigError {
  return new ConfigError(`${source}: "${field}" ${what}`, { field });
}

function checkModelType(raw: Record<string, unknown>, source: string): void {
  const modelType = raw.model_type;
  if (modelType === 'deepseek_v2') return;
  if (modelType === undefined) throw bad(source, 'model_type', 'is missing (expected "deepseek_v2")');
  if (modelType === 'deepseek_v3') {
    throw refuse(source, 'model_type', 'model_type "deepseek_v3" (sigmoid noaux_tc routing, FP8 weights)');
  }
  throw refuse(source, 'model_type', `model_type ${JSON.stringify(modelType)}`);
}

function parseRope(hf: HfConfig, source: string): { rope: RopeConfig; ropeTheta: number } {
  const key = hf.rope_parameters != null ? 'rope_parameters' : 'rope_scaling';
  const given = hf.rope_parameters ?? hf.rope_scaling ?? null;
  const ropeTheta = hf.rope_theta ?? given?.rope_theta ?? 10000;
  const type = given ? (given.rope_type ?? given.type ?? 'default') : 'default';
  if (type === 'default') return { rope: { type: 'default' }, ropeTheta };
  if (type !== 'yarn' && type !== 'deepseek_yarn') {
    throw refuse(source, `${key}.type`, `RoPE scaling type ${JSON.stringify(type)} (only "yarn")`);
  }
  if (given?.factor === undefined) throw bad(source, `${key}.factor`, 'is missing (YaRN needs a factor)');
  const rope: RopeConfig = {
    type: 'yarn',
    factor: given.factor,
    originalMaxPositionEmbeddings: given.original_max_position_embeddings ?? 4096,
    betaFast: given.beta_fast ?? 32,
    betaSlow: given.beta_slow ?? 1,
    mscale: given.mscale ?? 1,
    mscaleAllDim: given.mscale_all_dim ?? 0,
  };
  return { rope, ropeTheta };
}

function parseDtype(hf: HfConfig, source: string): TorchDtype {
  const dtype = hf.torch_dtype ?? hf.dtype ?? 'bfloat16';
  if (dtype === 'bfloat16' || dtype === 'float16' || dtype === 'float32') return dtype;
  throw refuse(
    source,
    'torch_dtype',
    `torch_dtype ${JSON.stringify(dtype)} (use bfloat16, float16 or float32)`,
  );
}

function parseMoe(hf: HfConfig, source: string) {
  if (hf.topk_method === 'noaux_tc')
    throw refuse(source, 'topk_method', 'topk_method "noaux_tc" (DeepSeek-V3)');
  if (hf.topk_method !== 'greedy' && hf.topk_method !== 'group_limited_greedy') {
    throw refuse(source, 'topk_method', `topk_method ${JSON.stringify(hf.topk_method)}`);
  }
  if (hf.scoring_func !== 'softmax') {
    throw refuse(source, 'scoring_func', `scoring_func ${JSON.stringify(hf.scoring_func)} (only "softmax")`);
  }
  const topkMethod: TopkMethod = hf.topk_method;
  const nRoutedExperts = hf.n_routed_experts ?? 0;
  const nGroup = hf.n_group ?? 1;
  const topkGroup = hf.topk_group ?? 1;
  const moe = {
    nRoutedExperts,
    nSharedExperts: hf.n_shared_experts ?? 0,
    numExpertsPerTok: hf.num_experts_per_tok ?? 0,
    moeIntermediateSize: hf.moe_intermediate_size ?? 0,
    firstKDenseReplace: hf.first_k_dense_replace,
    moeLayerFreq: hf.moe_layer_freq,
    topkMethod,
    nGroup,
    topkGroup,
    routedScalingFactor: hf.routed_scaling_factor,
    normTopkProb: hf.norm_topk_prob,
    scoringFunc: 'softmax' as const,
  };
  if (nRoutedExperts === 0) return moe;
  if (moe.numExpertsPerTok === 0)
    throw bad(source, 'num_experts_per_tok', 'is missing (the model has experts)');
  if (moe.numExpertsPerTok > nRoutedExperts) {
    throw bad(
      source,
      'num_experts_per_tok',
      `${moe.numExpertsPerTok} exceeds n_routed_experts ${nRoutedExperts}`,
    );
  }
  if (moe.moeIntermediateSize === 0)
    throw bad(source, 'moe_intermediate_size', 'is missing (the model has experts)');
  if (topkMethod === 'group_limited_greedy') {
    if (nRoutedExperts % nGroup !== 0) {
      throw bad(source, 'n_group', `${nGroup} does not divide n_routed_experts ${nRoutedExperts}`);
    }
    if (topkGroup > nGroup) throw bad(source, 'topk_group', `${topkGroup} exceeds n_group ${nGroup}`);
  }
  return moe;
}

/**
 * Reads the parsed JSON of a Hugging Face `config.json` into a {@link ModelConfig}. Platform-neutral
 * (give it the object from `JSON.parse`). Only `model_type` `deepseek_v2` is accepted; DeepSeek-V3,
 * quantized checkpoints and other architectures throw a "not supported yet" {@link ConfigError}, as
 * does any missing or malformed field (the error names it).
 *
 * @param json the parsed file
 * @param source how to name the file in messages (default `config.json`)
 */
export function parseHfModelConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError(
      `${source}: expected a JSON object, got ${Array.isArray(json) ? 'an array' : String(json)}`,
      {
        field: '(root)',
      },
    );
  }
  const raw = json as Record<string, unknown>;
  checkModelType(raw, source);
  if (raw.quantization_config != null) {
    throw refuse(source, 'quantization_config', 'a quantized checkpoint (quantization_config)');
  }
  const result = hfSchema.safeParse(raw);
  if (!result.success) throw zodToConfigError(result.error, raw, { source });
  const hf = result.data;
  if (hf.hidden_act !== 'silu')
    throw refuse(source, 'hidden_act', `hidden_act ${JSON.stringify(hf.hidden_act)}`);
  const { rope, ropeTheta } = parseRope(hf, source);
  const eos = hf.eos_token_id;
  return {
    modelType: 'deepseek_v2',
    hiddenSize: hf.hidden_size,
    numHiddenLayers: hf.num_hidden_layers,
    numAttentionHeads: hf.num_attention_heads,
    qLoraRank: hf.q_lora_rank,
    kvLoraRank: hf.kv_lora_rank,
    qkNopeHeadDim: hf.qk_nope_head_dim,
    qkRopeHeadDim: hf.qk_rope_head_dim,
    vHeadDim: hf.v_head_dim,
    intermediateSize: hf.intermediate_size,
    hiddenAct: 'silu',
    ...parseMoe(hf, source),
    attentionBias: hf.attention_bias,
    rmsNormEps: hf.rms_norm_eps,
    ropeTheta,
    rope,
    maxPositionEmbeddings: hf.max_position_embeddings,
    vocabSize: hf.vocab_size,
    tieWordEmbeddings: hf.tie_word_embeddings,
    bosTokenId: hf.bos_token_id,
    eosTokenIds: eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    torchDtype: parseDtype(hf, source),
  };
}
