import type { SamplingParams as SamplerParams } from './sampling/params.js';

/** A generation request as the engine takes it (token ids; the server tokenizes). */
export interface EngineRequest {
  /** Unique among unfinished requests; choices of `n` > 1 run as `${requestId}#${index}`. */
  requestId: string;
  promptTokenIds: number[];
  /** Sampling and stopping; omitted fields take vLLM's defaults. */
  params?: EngineSamplingParams;
  /** Return the logits of every prompt position (teacher forcing, `dcp logits`). */
  returnPromptLogits?: boolean;
  /** Smaller runs first under the priority policy. */
  priority?: number;
  /** Separates prefix caches (e.g. per tenant). */
  cacheSalt?: string | null;
}

/** Sampling plus stopping parameters. */
export interface EngineSamplingParams extends SamplerParams {
  /** Most tokens to generate (default: up to the model length). */
  maxTokens?: number;
  minTokens?: number;
  /** Completions to generate (each a choice; seeds `seed + index`). */
  n?: number;
  /** Strings that end a completion (not included in the text). */
  stop?: string[];
  /** Token ids that end a completion. */
  stopTokenIds?: number[];
  ignoreEos?: boolean;
  /** Keep special tokens in the text (default false). */
  skipSpecialTokens?: boolean;
}
