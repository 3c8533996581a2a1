import { EngineDeadError } from '../errors.js';
import type { Executor } from './executor.js';
import type { DriverMessage, LoadProgressMessage, StepInput, StepOutput, WorkerMessage } from './protocol.js';

/** What every multi-rank executor is told, whatever runs its ranks. */
export interface RankExecutorOptions {
  /** Ranks to start (world = pp × tp). */
  worldSize: number;
  /** Weight-loading progress of each rank while starting. */
  onProgress?: (m: LoadProgressMessage) => void;
  /** Called once when a rank dies (exit or error), e.g. to wake its peers blocked in collectives. */
  onRankDeath?: (rank: number, reason: string) => void;
  /** How long ranks may take to load (default 10 min: big checkpoints on small machines). */
  startupTimeoutMs?: number;
  /** Upper bound on one step (default 10 min); a step past it kills the engine rather than hang. */
  stepTimeoutMs?: number;
}

interface Pending {
  waiting: Set<number>;
  output: StepOutput | null;
  resolve: (o: StepOutput) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const DEFAULT_TIMEOUT_MS = 600_000;

/**
 * An executor of ranks in workers, whatever the workers are (threads in Node, Web Workers in a
 * browser); a subclass starts them (`spawn`), posts to them (`broadcast`) and stops them
 * (`stopAll`, `shutdown`). This base does the bookkeeping: startup until every rank is ready (or
 * one fails), every rank given the same `StepInput` and a step resolved once every rank
 * reported, with the output rank's result. A rank's error, crash or timeout marks the engine
 * dead: the step in flight and every later one fail with `EngineDeadError`, peers are told
 * (`onRankDeath`) and the ranks stopped.
 */
export abstract class RankExecutor implements Executor {
  /** What each rank reported when it became ready (backend, KV blocks, ...). */
  readonly rankInfo: Record<string, unknown>[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private deadReason: string | null = null;
  private closing = false;
  private ready = 0;
  private startup: { resolve: () => void; reject: (e: Error) => void } | null = null;

  protected constructor(private readonly rankOpts: RankExecutorOptions) {}

  /** Starts rank `rank` (its messages to `receive`, its crash to `fail`); throws when it cannot. */
  protected abstract spawn(rank: number): void;
  /** Posts a message to every started rank. */
  protected abstract broadcast(m: DriverMessage): void;
  /** Stops the ranks of a dead engine (everything in flight has failed already). */
  protected abstract stopAll(): void;
  /** Asks every rank to stop and waits until they did. */
  abstract shutdown(): Promise<void>;

  /** Why the engine is dead, or null while it is healthy. */
  get dead(): string | null {
    return this.deadReason;
  }

  /** Starts every rank and waits until all are ready (or one fails, or the startup times out). */
  protected startRanks(): Promise<void> {
    const o = this.rankOpts;
    const timeout = o.startupTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(-1, `ranks did not become ready within ${timeout} ms`),
        timeout,
      );
      const settle = (f: () => void) => {
        clearTimeout(timer);
        this.startup = null;
        f();
      };
      this.startup = { resolve: () => settle(resolve), reject: (e) => settle(() => reject(e)) };
      for (let rank = 0; rank < o.worldSize; rank++) {
        try {
          this.spawn(rank);
        } catch (e) {
          this.fail(-1, `rank ${rank}: its worker could not be started: ${(e as Error).message}`);
          return;
        }
      }
    });
  }

  /** Takes a message a rank posted. */
  protected receive(m: WorkerMessage): void {
    if (m.type === 'progress') this.rankOpts.onProgress?.(m);
    else if (m.type === 'ready') {
      this.rankInfo[m.rank] = m.info;
      if (++this.ready === this.rankOpts.worldSize) this.startup?.resolve();
    } else if (m.type === 'error') this.fail(m.rank, `rank ${m.rank} failed: ${m.message}`);
    else if (m.type === 'done') {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.output) p.output = m.output;
      p.waiting.delete(m.rank);
      if (p.waiting.size === 0) {
        clearTimeout(p.timer);
        this.pending.delete(m.id);
        p.resolve(p.output ?? { outputs: {} });
      }
    }
  }

  /**
   * Marks the engine dead (rank -1: no rank in particular), fails the startup or everything in
   * flight, tells peers of the dead rank and stops the ranks. Ignored once dead or shutting down.
   */
  protected fail(rank: number, reason: string): void {
    if (this.deadReason !== null || this.closing) return;
    this.deadReason = reason;
    const err = new EngineDeadError(reason);
    if (rank >= 0) this.rankOpts.onRankDeath?.(rank, reason);
    this.startup?.reject(err);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.stopAll();
  }

  /** Runs one step on every rank; resolves with the output rank's result. */
  execute(input: StepInput): Promise<StepOutput> {
    if (this.deadReason !== null) return Promise.reject(new EngineDeadError(this.deadReason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeout = this.rankOpts.stepTimeoutMs ?? DEFAULT_TIMEOUT_MS;
      const timer = setTimeout(
        () => this.fail(-1, `step ${id} did not finish within ${timeout} ms`),
        timeout,
      );
      this.pending.set(id, {
        waiting: new Set(Array.from({ length: this.rankOpts.worldSize }, (_, r) => r)),
        output: null,
        resolve,
        reject,
        timer,
      });
      this.broadcast({ type: 'step', id, input });
    });
  }

  /** Marks the executor as shutting down (later failures are ignored); false when it already was. */
  protected beginShutdown(): boolean {
    if (this.closing) return false;
    this.closing = true;
    return true;
  }
}
