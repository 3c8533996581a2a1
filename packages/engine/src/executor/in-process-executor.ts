import type { Executor } from './executor.js';
import type { StepInput, StepOutput } from './protocol.js';
import type { RankRunner } from './rank-loop.js';

/**
 * Runs a single rank on the caller's thread (browsers without workers, tests, tp1·pp1 setups).
 * A runner error marks the executor dead, as a crashed worker would.
 */
export class InProcessExecutor implements Executor {
  private deadReason: string | null = null;
  readonly rankInfo: Record<string, unknown>[];

  constructor(private readonly runner: RankRunner) {
    this.rankInfo = [runner.info()];
  }

  get dead(): string | null {
    return this.deadReason;
  }

  async execute(input: StepInput): Promise<StepOutput> {
    if (this.deadReason) throw new Error(this.deadReason);
    try {
      return (await this.runner.execute(input)) ?? { outputs: {} };
    } catch (e) {
      this.deadReason = `rank 0 failed: ${(e as Error).message}`;
      throw new Error(this.deadReason);
    }
  }

  async shutdown(): Promise<void> {
    await this.runner.close?.();
  }
}
