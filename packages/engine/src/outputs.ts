import type { TokenLogprob } from './sampling/sampler.js';

/** Why a completion ended (OpenAI's names plus vLLM's `abort` and `error`). */
export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

/** Log-probabilities of one generated token. */
export interface TokenLogprobs extends TokenLogprob {
  /** The most likely alternatives, most likely first. */
  top: TokenLogprob[];
}

/** What one step added to one completion (choice `index` of request `requestId`). */
export interface CompletionDelta {
  requestId: string;
  /** Choice index in [0, n). */
  index: number;
  newTokenIds: number[];
  /** Text released this step (UTF-8 safe; never part of a stop string). */
  newText: string;
  /** Log-probabilities of `newTokenIds`, when asked. */
  logprobs: TokenLogprobs[] | null;
  /** Logits rows of the prompt positions computed this step, for teacher-forced requests. */
  promptLogits: Float32Array[] | null;
  finished: boolean;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended it, if any. */
  stopReason: string | number | null;
  numPromptTokens: number;
  numOutputTokens: number;
  /** Set with `finishReason: 'error'`. */
  error?: string;
}
