import { InvalidRequestError } from './errors.js';
import type { Request, RequestInput, SamplingParams } from './types.js';

/** Limits a request is checked against when it is created. */
export interface RequestLimits {
  /** Longest sequence (prompt + output) a request may reach. */
  maxModelLen: number;
  /** Default `eosTokenId` for requests that do not set one. */
  eosTokenId: number | null;
}

function fail(requestId: string, field: string, problem: string): never {
  throw new InvalidRequestError(`request ${JSON.stringify(requestId)}: ${field} ${problem}`);
}

function checkInt(id: string, field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    fail(id, field, `must be an integer ≥ ${min}, got ${String(v)}`);
  }
  return v;
}

function checkRange(id: string, field: string, v: unknown, lo: number, hi: number, loOpen = false): number {
  if (typeof v !== 'number' || Number.isNaN(v) || (loOpen ? v <= lo : v < lo) || v > hi) {
    fail(id, field, `must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

function nullableInt(id: string, field: string, v: unknown, min: number): number | null {
  return v === null || v === undefined ? null : checkInt(id, field, v, min);
}

/** Fills in and validates sampling parameters for a prompt of `promptLen` tokens. */
export function resolveSampling(
  id: string,
  s: Partial<SamplingParams> | undefined,
  promptLen: number,
  limits: RequestLimits,
): SamplingParams {
  const room = limits.maxModelLen - promptLen;
  const maxTokens = s?.maxTokens ?? Math.max(room, 1);
  checkInt(id, 'sampling.maxTokens', maxTokens, 1);
  const minTokens = checkInt(id, 'sampling.minTokens', s?.minTokens ?? 0, 0);
  if (minTokens > maxTokens)
    fail(id, 'sampling.minTokens', `(${minTokens}) must not exceed maxTokens (${maxTokens})`);
  const stop = s?.stopTokenIds ?? [];
  if (!Array.isArray(stop)) fail(id, 'sampling.stopTokenIds', 'must be an array of token ids');
  for (const [i, t] of stop.entries()) checkInt(id, `sampling.stopTokenIds[${i}]`, t, 0);
  const ignoreEos = s?.ignoreEos ?? false;
  if (typeof ignoreEos !== 'boolean')
    fail(id, 'sampling.ignoreEos', `must be a boolean, got ${String(ignoreEos)}`);
  return {
    maxTokens,
    minTokens,
    stopTokenIds: [...stop],
    ignoreEos,
    eosTokenId:
      s?.eosTokenId === undefined
        ? limits.eosTokenId
        : nullableInt(id, 'sampling.eosTokenId', s.eosTokenId, 0),
    temperature: checkRange(id, 'sampling.temperature', s?.temperature ?? 1, 0, Number.MAX_VALUE),
    topP: checkRange(id, 'sampling.topP', s?.topP ?? 1, 0, 1, true),
    topK: checkInt(id, 'sampling.topK', s?.topK ?? 0, 0),
    minP: checkRange(id, 'sampling.minP', s?.minP ?? 0, 0, 1),
    seed: nullableInt(id, 'sampling.seed', s?.seed, 0),
    n: checkInt(id, 'sampling.n', s?.n ?? 1, 1),
    logprobs: nullableInt(id, 'sampling.logprobs', s?.logprobs, 0),
  };
}

/**
 * Validates `input` and makes a waiting `Request`. Throws `InvalidRequestError` naming the field
 * when something is wrong, including a prompt longer than `maxModelLen`.
 */
export function createRequest(input: RequestInput, arrivalTime: number, limits: RequestLimits): Request {
  const id = input?.requestId;
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidRequestError(`requestId must be a non-empty string, got ${String(id)}`);
  }
  const prompt = input.promptTokenIds;
  if (!Array.isArray(prompt) || prompt.length === 0) fail(id, 'promptTokenIds', 'must be a non-empty array');
  for (let i = 0; i < prompt.length; i++) {
    const t = prompt[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      fail(id, `promptTokenIds[${i}]`, `must be an integer ≥ 0, got ${String(t)}`);
    }
  }
  if (prompt.length > limits.maxModelLen) {
    fail(
      id,
      'promptTokenIds',
      `has ${prompt.length} tokens, more than maxModelLen (${limits.maxModelLen}); shorten the prompt or raise maxModelLen`,
    );
  }
  const at = input.arrivalTime ?? arrivalTime;
  if (typeof at !== 'number' || !Number.isFinite(at))
    fail(id, 'arrivalTime', `must be a finite number, got ${at}`);
  const priority = input.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    fail(id, 'priority', `must be a finite number, got ${priority}`);
  }
  const salt = input.cacheSalt ?? null;
  if (salt !== null && typeof salt !== 'string') fail(id, 'cacheSalt', 'must be a string or null');
  return {
    requestId: id,
    promptTokenIds: [...prompt],
    sampling: resolveSampling(id, input.sampling, prompt.length, limits),
    arrivalTime: at,
    priority,
    cacheSalt: salt,
    allTokenIds: [...prompt],
    numPromptTokens: prompt.length,
    outputTokenIds: [],
    numComputedTokens: 0,
    numCachedTokens: -1,
    status: 'waiting',
    finishReason: null,
    stopTokenId: null,
    numPreemptions: 0,
  };
}
