/**
 * Public data types of `@dcp/scheduler`. Everything here is plain data: requests, scheduler
 * outputs and per-request results survive `JSON.parse(JSON.stringify(x))` unchanged, so the same
 * `SchedulerOutput` can be sent to every rank's worker (threads today, hosts later).
 */
import type { KVCacheRequest } from '@dcp/kv-cache';

/** Sampling parameters with every default resolved. The scheduler reads only the stop fields. */
export interface SamplingParams {
  /** Most output tokens; the request finishes with reason `length` when it has this many. */
  maxTokens: number;
  /** EOS and stop token ids do not end the request among its first `minTokens` output tokens. */
  minTokens: number;
  /** Token ids that end the request (reason `stop`; the token is kept in the output). */
  stopTokenIds: number[];
  /** Keep going past the EOS token. */
  ignoreEos: boolean;
  /** The model's end-of-sequence token id, or null when it has none. */
  eosTokenId: number | null;
  /** Carried through for the engine's sampler: softmax temperature (0 = greedy). */
  temperature: number;
  /** Carried through: nucleus probability mass in (0, 1]. */
  topP: number;
  /** Carried through: keep the k most likely tokens (0 = off). */
  topK: number;
  /** Carried through: drop tokens below `minP × max probability` (0 = off). */
  minP: number;
  /** Carried through: per-request sampling seed, or null. */
  seed: number | null;
  /** Carried through: completions the engine fans out (each child is its own scheduler request). */
  n: number;
  /** Carried through: number of log-probabilities to return per token, or null. */
  logprobs: number | null;
}

/** Lifecycle of a request. `preempted` requests wait again and recompute their tokens. */
export type RequestStatus = 'waiting' | 'running' | 'preempted' | 'finished';

/** Why a request finished. */
export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

/** What a caller passes to `Scheduler.addRequest`. Omitted sampling fields take their defaults. */
export interface RequestInput {
  /** Unique id among unfinished requests. */
  requestId: string;
  /** Prompt token ids: non-empty, integers ≥ 0, at most `maxModelLen` of them. */
  promptTokenIds: readonly number[];
  /** Sampling parameters; `maxTokens` defaults to `maxModelLen − prompt length`. */
  sampling?: Partial<SamplingParams>;
  /** Arrival time in ms (defaults to the scheduler's clock). Earlier is served first. */
  arrivalTime?: number;
  /** Smaller is served first under the `priority` policy (default 0). */
  priority?: number;
  /** Mixed into every prefix-cache block hash (e.g. per tenant); null for none. */
  cacheSalt?: string | null;
}

/**
 * A request as the scheduler tracks it: plain data, satisfying `KVCacheRequest`. Treat it as
 * read-only outside the scheduler.
 */
export interface Request extends KVCacheRequest {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  readonly sampling: SamplingParams;
  readonly arrivalTime: number;
  readonly priority: number;
  readonly cacheSalt: string | null;
  /** Every token so far: the prompt then `outputTokenIds`. */
  allTokenIds: number[];
  numPromptTokens: number;
  /** Tokens generated so far (kept across preemption). */
  outputTokenIds: number[];
  /** Tokens whose KV is computed or scheduled for computation. Reset to 0 on preemption. */
  numComputedTokens: number;
  /** Prefix-cache hit (tokens) at the first admission, or −1 before it is admitted. */
  numCachedTokens: number;
  status: RequestStatus;
  /** Set once `status` is `finished`. */
  finishReason: FinishReason | null;
  /** The stop token id that ended the request, when `finishReason` is `stop`. */
  stopTokenId: number | null;
  /** Times this request was preempted. */
  numPreemptions: number;
}

/** A request scheduled for the first time, or again after a preemption. */
export interface NewRequestData {
  requestId: string;
  promptTokenIds: number[];
  /** Output tokens it already has (non-empty only when it resumes after a preemption). */
  outputTokenIds: number[];
  sampling: SamplingParams;
  /** Its whole block table (virtual block ids), prefix-cache hits included. */
  blockIds: number[];
  /** Tokens whose KV is in the cache before this step (the prefix-cache hit). */
  numComputedTokens: number;
  /** Tokens computed this step: positions `numComputedTokens … numComputedTokens + n − 1`. */
  numScheduledTokens: number;
  /** Those tokens' ids. */
  tokenIds: number[];
}

/** A running request scheduled again. */
export interface CachedRequestData {
  requestId: string;
  /** Blocks appended to its block table this step (often none). */
  newBlockIds: number[];
  /** Tokens whose KV is in the cache before this step. */
  numComputedTokens: number;
  /** Tokens computed this step: positions `numComputedTokens … numComputedTokens + n − 1`. */
  numScheduledTokens: number;
  /** Those tokens' ids (for a decode, the token sampled last step). */
  tokenIds: number[];
}

/** One step's plan: plain data, the same for every rank. */
export interface SchedulerOutput {
  /** Step number (1, 2, …); `updateFromOutput` takes each step's output once. */
  step: number;
  /** Requests (re)entering the batch. They follow the cached ones in batch order. */
  scheduledNewRequests: NewRequestData[];
  /** Running requests scheduled again, in batch order. */
  scheduledCachedRequests: CachedRequestData[];
  /** Sum of `numScheduledTokens` over both lists (≤ `maxNumBatchedTokens`). */
  totalNumScheduledTokens: number;
  /** Requests that finished or were aborted since the previous step: workers drop their state. */
  finishedRequestIds: string[];
  /** Requests preempted in this step: workers drop their state; they come back as new requests. */
  preemptedRequestIds: string[];
}

/** What one scheduled request produced in a step. */
export interface RequestOutput {
  requestId: string;
  /** Tokens appended this step (empty for a prefill chunk that did not finish the prompt). */
  newTokenIds: number[];
  /** Set when the request finished this step. */
  finishReason: FinishReason | null;
  /** The stop token id, when `finishReason` is `stop` because of one. */
  stopTokenId: number | null;
  /** Output tokens so far. */
  numOutputTokens: number;
}

/** Counters for metrics. */
export interface SchedulerStats {
  numRunning: number;
  numWaiting: number;
  /** Preemptions since the scheduler was made. */
  numPreemptionsTotal: number;
  /** Fraction of KV blocks in use, in [0, 1]. */
  kvCacheUsage: number;
  /** Prompt (and, on resume, output) tokens looked up in the prefix cache at admission. */
  prefixCacheQueries: number;
  /** Of those, tokens found in the cache. */
  prefixCacheHits: number;
  /** `prefixCacheHits / prefixCacheQueries` (0 before any query). */
  prefixCacheHitRate: number;
  /** Steps scheduled so far. */
  numSteps: number;
}
