import { EngineDeadError } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import type { LoadProgressMessage, StepInput, StepOutput } from '../executor/protocol.js';
import type { WebWorkerLike } from './dom.js';
import type { WebDriverMessage, WebRankInit, WebWorkerMessage } from './protocol.js';

/** Options of `WebWorkerExecutor.start`. */
export interface WebWorkerExecutorOptions {
  /** Ranks to start (world = pp × tp). */
  worldSize: number;
  /** Starts the worker of one rank (a module script that calls `runWebRank()`), named `name`. */
  createWorker: (rank: number, name: string) => WebWorkerLike;
  /** The init message of each rank. */
  init: (rank: number) => WebRankInit;
  /** Weight-loading progress of each rank while starting. */
  onProgress?: (m: LoadProgressMessage) => void;
  /** Called once when a rank dies, e.g. to wake its peers blocked in collectives. */
  onRankDeath?: (rank: number, reason: string) => void;
  /** How long ranks may take to load (default 10 min). */
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

/**
 * Runs one dedicated Web Worker per rank (made by `createWorker`, named `dcp-rank-N`) and steps
 * them together: every rank gets the same `StepInput`, a step resolves
 * once every rank reported, with the output rank's result. A rank that reports an error, or a
 * worker error event, fails the step in flight and every later one with `EngineDeadError`.
 */
export class WebWorkerExecutor implements Executor {
  /** The rank workers, by rank. */
  readonly workers: WebWorkerLike[] = [];
  /** What each rank reported when it became ready (backend, adapter, global scope, ...). */
  readonly rankInfo: Record<string, unknown>[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly closed = new Map<number, () => void>();
  private nextId = 1;
  private deadReason: string | null = null;
  private closing = false;
  private onStartupFailure: ((e: Error) => void) | null = null;

  private constructor(private readonly o: WebWorkerExecutorOptions) {}

  /** Starts every rank and waits until all are ready (or one fails). */
  static async start(o: WebWorkerExecutorOptions): Promise<WebWorkerExecutor> {
    const ex = new WebWorkerExecutor(o);
    await ex.launch();
    return ex;
  }

  /** Why the engine is dead, or null while it is healthy. */
  get dead(): string | null {
    return this.deadReason;
  }

  private launch(): Promise<void> {
    const startup = this.o.startupTimeoutMs ?? 600_000;
    return new Promise((resolve, reject) => {
      let ready = 0;
      const timer = setTimeout(
        () => this.fail(-1, `ranks did not become ready within ${startup} ms`),
        startup,
      );
      this.onStartupFailure = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      for (let rank = 0; rank < this.o.worldSize; rank++) {
        let w: WebWorkerLike;
        try {
          w = this.o.createWorker(rank, `dcp-rank-${rank}`);
        } catch (e) {
          this.fail(-1, `rank ${rank}: its worker could not be started: ${(e as Error).message}`);
          return;
        }
        w.addEventListener('message', (e) => {
          const m = e.data as WebWorkerMessage;
          if (m.type === 'progress') this.o.onProgress?.(m);
          else if (m.type === 'ready') {
            this.rankInfo[m.rank] = m.info;
            if (++ready === this.o.worldSize) {
              clearTimeout(timer);
              this.onStartupFailure = null;
              resolve();
            }
          } else this.onMessage(m);
        });
        // A script that fails to load or throws at top level: the event's message says why.
        w.addEventListener('error', (e) =>
          this.fail(rank, `rank ${rank} crashed: ${e.message ?? 'worker error (see the console)'}`),
        );
        w.addEventListener('messageerror', () =>
          this.fail(rank, `rank ${rank} sent a message that cannot be read`),
        );
        this.workers.push(w);
        const init: WebDriverMessage = this.o.init(rank);
        w.postMessage(init);
      }
    });
  }

  private onMessage(m: WebWorkerMessage): void {
    if (m.type === 'error') {
      this.fail(m.rank, `rank ${m.rank} failed: ${m.message}`);
      return;
    }
    if (m.type === 'closed') {
      this.closed.get(m.rank)?.();
      return;
    }
    if (m.type !== 'done') return;
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

  /** Marks the engine dead, fails everything in flight, tells peers of the dead rank, ends the workers. */
  private fail(rank: number, reason: string): void {
    if (this.deadReason !== null || this.closing) return;
    this.deadReason = reason;
    const err = new EngineDeadError(reason);
    if (rank >= 0) this.o.onRankDeath?.(rank, reason);
    this.onStartupFailure?.(err);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const w of this.workers) w.terminate();
  }

  /** Runs one step on every rank; resolves with the output rank's result. */
  execute(input: StepInput): Promise<StepOutput> {
    if (this.deadReason !== null) return Promise.reject(new EngineDeadError(this.deadReason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeout = this.o.stepTimeoutMs ?? 600_000;
      const timer = setTimeout(
        () => this.fail(-1, `step ${id} did not finish within ${timeout} ms`),
        timeout,
      );
      this.pending.set(id, {
        waiting: new Set(this.workers.map((_, r) => r)),
        output: null,
        resolve,
        reject,
        timer,
      });
      const msg: WebDriverMessage = { type: 'step', id, input };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  /** Asks every rank to release its device and close; terminates any that has not within 5 s. */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all(
      this.workers.map(
        (w, rank) =>
          new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              w.terminate();
              resolve();
            };
            const t = setTimeout(done, this.deadReason === null ? 5_000 : 0);
            this.closed.set(rank, done);
            const msg: WebDriverMessage = { type: 'shutdown' };
            w.postMessage(msg);
          }),
      ),
    );
  }
}
