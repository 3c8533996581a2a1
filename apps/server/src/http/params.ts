import type { EngineSamplingParams } from '@dcp/engine';
import { ApiError } from './errors.js';

/** The sampling fields shared by both endpoints, as the schema admits them. */
export interface SamplingBody {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  seed?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean | null;
  min_tokens?: number | null;
  skip_special_tokens?: boolean | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  priority?: number | null;
}

/**
 * Maps an OpenAI/vLLM body to engine sampling parameters for one prompt of `promptLen` tokens.
 * `maxTokens` null means "as many as fit" (chat's default). Throws a 400 `ApiError` naming the
 * field when the request cannot fit in `maxModelLen`.
 */
export function toSamplingParams(
  b: SamplingBody,
  promptLen: number,
  maxModelLen: number,
  maxTokens: number | null,
  logprobs: number | null,
): EngineSamplingParams {
  if (promptLen > maxModelLen) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${maxModelLen} tokens. However, your prompt has ${promptLen} tokens. Please reduce the length of the prompt.`,
      'prompt',
    );
  }
  const room = maxModelLen - promptLen;
  const want = maxTokens ?? room;
  if (want > room) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptLen + want} tokens (${promptLen} in the prompt, ${want} in the completion). Please reduce the length of the prompt or completion.`,
      'max_tokens',
    );
  }
  if (room < 1)
    throw new ApiError(400, `the prompt fills the whole context of ${maxModelLen} tokens`, 'prompt');
  if ((b.presence_penalty ?? 0) !== 0 || (b.frequency_penalty ?? 0) !== 0) {
    throw new ApiError(
      400,
      'presence_penalty and frequency_penalty are not supported yet; leave them at 0',
      'presence_penalty',
    );
  }
  const stop = b.stop == null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop;
  if ((b.min_tokens ?? 0) > want)
    throw new ApiError(
      400,
      `min_tokens (${b.min_tokens}) must not exceed max_tokens (${want})`,
      'min_tokens',
    );
  return {
    maxTokens: want,
    minTokens: b.min_tokens ?? 0,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    topK: b.top_k ?? 0,
    minP: b.min_p ?? 0,
    ...(b.seed != null ? { seed: b.seed } : {}),
    n: b.n ?? 1,
    stop,
    stopTokenIds: b.stop_token_ids ?? [],
    ignoreEos: b.ignore_eos ?? false,
    skipSpecialTokens: b.skip_special_tokens ?? true,
    logprobs,
  };
}
