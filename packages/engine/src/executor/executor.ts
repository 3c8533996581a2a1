import type { StepInput, StepOutput } from './protocol.js';

/**
 * Runs steps on the ranks. The thread executor (Node) runs one worker per rank; an in-process
 * executor runs a single rank on the caller's thread (browsers, tests).
 */
export interface Executor {
  /** Runs one step on every rank; resolves with the output rank's result. */
  execute(input: StepInput): Promise<StepOutput>;
  /** Stops every rank. */
  shutdown(): Promise<void>;
  /** Why the executor can no longer run (a rank died), or null. */
  readonly dead: string | null;
  /** What each rank reported at startup. */
  readonly rankInfo: readonly Record<string, unknown>[];
}
