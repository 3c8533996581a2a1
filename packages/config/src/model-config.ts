/** Rotary position embedding without context extension (plain RoPE with `ropeTheta`). */
export interface DefaultRope {
  type: 'default';
}

/**
 * YaRN context extension as DeepSeek-V2 uses it. Missing fields take the defaults of the Hugging Face
 * DeepSeek-V2 code: `originalMaxPositionEmbeddings` 4096, `betaFast` 32, `betaSlow` 1, `mscale` 1,
 * `mscaleAllDim` 0.
 */
export interface YarnRope {
  type: 'yarn';
  factor: number;
  originalMaxPositionEmbeddings: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

/** RoPE scaling, normalised from either `rope_scaling` or `rope_parameters` of a `config.json`. */
export type RopeConfig = DefaultRope | YarnRope;

/** How the router picks experts: plain top-k, or top-k inside the best `topkGroup` of `nGroup` groups. */
export type TopkMethod = 'greedy' | 'group_limited_greedy';

/** Weight dtype named by `torch_dtype` (or `dtype`) in a `config.json`. */
export type TorchDtype = 'bfloat16' | 'float16' | 'float32';

/**
 * A DeepSeek-V2 architecture, read from a Hugging Face `config.json` (`model_type` `deepseek_v2`).
 * Field names are the camelCase of the file's snake_case keys. Plain data: safe to clone and post
 * to workers.
 */
export interface ModelConfig {
  modelType: 'deepseek_v2';
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Rank of the query down-projection; `null` means queries are projected directly (V2-Lite). */
  qLoraRank: number | null;
  /** Width of the compressed latent KV (`kv_c`), 512 in DeepSeek-V2. */
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  /** FFN width of the dense (non-MoE) layers. */
  intermediateSize: number;
  /** Activation of the FFNs; only `silu` exists in DeepSeek-V2. */
  hiddenAct: 'silu';
  /** Routed experts per MoE layer; 0 when the file gives `null` (a dense model: no MoE layer). */
  nRoutedExperts: number;
  /** Shared experts per MoE layer; 0 when absent or `null`. */
  nSharedExperts: number;
  /** Experts each token is routed to; 0 for a dense model. */
  numExpertsPerTok: number;
  /** FFN width of one expert; 0 for a dense model. */
  moeIntermediateSize: number;
  /** Layers `[0, firstKDenseReplace)` are dense. */
  firstKDenseReplace: number;
  /** Among later layers, those with `layer % moeLayerFreq == 0` are MoE. */
  moeLayerFreq: number;
  topkMethod: TopkMethod;
  /** Expert groups for `group_limited_greedy` (1 when the file gives `null`). */
  nGroup: number;
  /** Groups kept per token for `group_limited_greedy` (1 when the file gives `null`). */
  topkGroup: number;
  routedScalingFactor: number;
  normTopkProb: boolean;
  /** Router scoring; DeepSeek-V2 uses `softmax` (V3's `sigmoid` is not supported yet). */
  scoringFunc: 'softmax';
  /** Whether the q/kv/o projections carry a bias (false in every released DeepSeek-V2). */
  attentionBias: boolean;
  rmsNormEps: number;
  ropeTheta: number;
  rope: RopeConfig;
  maxPositionEmbeddings: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** End-of-sequence ids; the file's single id or list, `[]` when absent. */
  eosTokenIds: number[];
  torchDtype: TorchDtype;
}

/**
 * Whether decoder layer `layer` has an MoE block (else a dense MLP), following the rule of the
 * DeepSeek-V2 reference code: experts exist, `layer >= firstKDenseReplace` and
 * `layer % moeLayerFreq == 0`.
 */
export function isMoeLayer(config: ModelConfig, layer: number): boolean {
  return config.nRoutedExperts > 0 && layer >= config.firstKDenseReplace && layer % config.moeLayerFreq === 0;
}

/** Width of one query/key head: `qkNopeHeadDim + qkRopeHeadDim` (192 in DeepSeek-V2). */
export function qkHeadDim(config: ModelConfig): number {
  return config.qkNopeHeadDim + config.qkRopeHeadDim;
}
