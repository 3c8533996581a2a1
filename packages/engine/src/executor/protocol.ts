/**
 * Messages between the engine driver and its per-rank workers. Everything is plain, structured-
 * cloneable data: the same `StepInput` goes to every rank, and each rank derives its own inputs.
 */
import type { SamplingParams } from '../sampling/params.js';

/** Per-request sampling state the output rank needs for one step. */
export interface StepSampling {
  /** Whether this step ends at the request's last known token, so a token is sampled. */
  sample: boolean;
  params: SamplingParams;
  /** The request's seed (fixed at arrival; random when the user gave none). */
  seed: number;
  /** Index of the token being sampled in the request's output (the draw counter). */
  outputIndex: number;
  /** Return every scheduled position's full logits row (teacher-forced `dcp logits`). */
  returnLogits?: boolean;
}

/** One engine step, as sent to every rank. `schedule` is the scheduler's plain output. */
export interface StepInput<S = unknown> {
  schedule: S;
  /** Sampling state by request id, for every scheduled request. */
  sampling: Record<string, StepSampling>;
}

/** What the output rank returns for one request. */
export interface RequestStepOutput {
  /** The sampled token, absent while a prompt is still being prefilled in chunks. */
  tokenId?: number;
  logprob?: number;
  topLogprobs?: { tokenId: number; logprob: number }[];
  /** Logits rows of the scheduled positions (only when `returnLogits`). */
  logits?: Float32Array[];
}

/** The result of a step: filled only by the output rank. */
export interface StepOutput {
  outputs: Record<string, RequestStepOutput>;
}

export type DriverMessage = { type: 'step'; id: number; input: StepInput } | { type: 'shutdown' };

/** Weight-loading progress of one rank. */
export interface LoadProgressMessage {
  type: 'progress';
  rank: number;
  bytesDone: number;
  bytesTotal: number;
}

export type WorkerMessage =
  | LoadProgressMessage
  | { type: 'ready'; rank: number; info: Record<string, unknown> }
  | { type: 'done'; id: number; rank: number; output: StepOutput | null }
  | { type: 'error'; id: number | null; rank: number; message: string; stack?: string };
