import { isMoeLayer, type ModelConfig } from '@dcp/config';

/** A tensor of a Hugging Face DeepSeek-V2 checkpoint: its name and full (unsharded) shape. */
export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Names and full shapes of decoder layer `layer`'s tensors, in Hugging Face layout (`[out, in]`). */
export function layerTensorSpecs(config: ModelConfig, layer: number): TensorSpec[] {
  const h = config.hiddenSize;
  const n = config.numAttentionHeads;
  const qk = config.qkNopeHeadDim + config.qkRopeHeadDim;
  const p = `model.layers.${layer}.`;
  const a = `${p}self_attn.`;
  const out: TensorSpec[] = [
    { name: `${p}input_layernorm.weight`, shape: [h] },
    { name: `${p}post_attention_layernorm.weight`, shape: [h] },
  ];
  if (config.qLoraRank === null) {
    out.push({ name: `${a}q_proj.weight`, shape: [n * qk, h] });
  } else {
    out.push({ name: `${a}q_a_proj.weight`, shape: [config.qLoraRank, h] });
    out.push({ name: `${a}q_a_layernorm.weight`, shape: [config.qLoraRank] });
    out.push({ name: `${a}q_b_proj.weight`, shape: [n * qk, config.qLoraRank] });
    if (config.attentionBias) out.push({ name: `${a}q_a_proj.bias`, shape: [config.qLoraRank] });
  }
  const latent = config.kvLoraRank + config.qkRopeHeadDim;
  out.push({ name: `${a}kv_a_proj_with_mqa.weight`, shape: [latent, h] });
  out.push({ name: `${a}kv_a_layernorm.weight`, shape: [config.kvLoraRank] });
  out.push({
    name: `${a}kv_b_proj.weight`,
    shape: [n * (config.qkNopeHeadDim + config.vHeadDim), config.kvLoraRank],
  });
  out.push({ name: `${a}o_proj.weight`, shape: [h, n * config.vHeadDim] });
  if (config.attentionBias) {
    out.push({ name: `${a}kv_a_proj_with_mqa.bias`, shape: [latent] });
    out.push({ name: `${a}o_proj.bias`, shape: [h] });
  }
  const mlp = (prefix: string, inter: number) => {
    out.push({ name: `${prefix}gate_proj.weight`, shape: [inter, h] });
    out.push({ name: `${prefix}up_proj.weight`, shape: [inter, h] });
    out.push({ name: `${prefix}down_proj.weight`, shape: [h, inter] });
  };
  if (!isMoeLayer(config, layer)) {
    mlp(`${p}mlp.`, config.intermediateSize);
    return out;
  }
  out.push({ name: `${p}mlp.gate.weight`, shape: [config.nRoutedExperts, h] });
  for (let e = 0; e < config.nRoutedExperts; e++) mlp(`${p}mlp.experts.${e}.`, config.moeIntermediateSize);
  if (config.nSharedExperts > 0) {
    mlp(`${p}mlp.shared_experts.`, config.moeIntermediateSize * config.nSharedExperts);
  }
  return out;
}

/**
 * Every tensor of the model (embedding, layers `[layerStart, layerEnd)`, final norm, LM head unless
 * tied), in Hugging Face names and full shapes. Routed experts are listed one tensor per expert
 * (`mlp.experts.{e}.gate_proj.weight`), the layout of the released checkpoints.
 */
export function modelTensorSpecs(
  config: ModelConfig,
  layers: { start: number; end: number } = { start: 0, end: config.numHiddenLayers },
): TensorSpec[] {
  const h = config.hiddenSize;
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocabSize, h] }];
  for (let l = layers.start; l < layers.end; l++) out.push(...layerTensorSpecs(config, l));
  out.push({ name: 'model.norm.weight', shape: [h] });
  if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [config.vocabSize, h] });
  return out;
}

/** Total parameter count of the full model. */
export function parameterCount(config: ModelConfig): number {
  let total = 0;
  for (const t of modelTensorSpecs(config)) total += t.shape.reduce((a, b) => a * b, 1);
  return total;
}
