import { Worker } from 'node:worker_threads';
import { EngineDeadError } from '../errors.js';
import type { DriverMessage, LoadProgressMessage, StepInput, StepOutput, WorkerMessage } from './protocol.js';

/** Options of a `ThreadExecutor`. */
export interface ThreadExecutorOptions {
  /** Ranks to start (world = pp × tp). */
  worldSize: number;
  /** The built worker entry (JavaScript). */
  workerUrl: URL;
  /** `workerData` of each rank's worker. */
  workerData: (rank: number) => unknown;
  /** Weight-loading progress of each rank while starting. */
  onProgress?: (m: LoadProgressMessage) => void;
  /** Called once when a rank dies (exit or error), e.g. to wake its peers blocked in collectives. */
  onRankDeath?: (rank: number, reason: string) => void;
  /** How long ranks may take to load (default 10 min: big checkpoints on small machines). */
  startupTimeoutMs?: number;
  /** Upper bound on one step (default 10 min); a step past it kills the engine rather than hang. */
  stepTimeoutMs?: number;
}

/** How long ranks of a dead engine may take to release their devices before they are terminated. */
const STOP_GRACE_MS = 5_000;

interface Pending {
  waiting: Set<number>;
  output: StepOutput | null;
  resolve: (o: StepOutput) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs one worker thread per rank and steps them together: every rank gets the same `StepInput`,
 * the step resolves once every rank reported, with the output rank's result. A worker that throws
 * or exits fails the step in flight (and every later one) with an `EngineDeadError`.
 */
export class ThreadExecutor {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly exited = new Set<number>();
  private nextId = 1;
  private deadReason: string | null = null;
  private closing = false;
  /** What each rank reported when it became ready (backend, KV blocks, ...). */
  readonly rankInfo: Record<string, unknown>[] = [];

  private constructor(private readonly opts: ThreadExecutorOptions) {}

  /** Starts every rank and waits until all are ready (or one fails). */
  static async start(opts: ThreadExecutorOptions): Promise<ThreadExecutor> {
    const ex = new ThreadExecutor(opts);
    await ex.launch();
    return ex;
  }

  /** Why the engine is dead, or null while it is healthy. */
  get dead(): string | null {
    return this.deadReason;
  }

  private launch(): Promise<void> {
    const { worldSize, workerUrl, workerData } = this.opts;
    return new Promise((resolve, reject) => {
      let ready = 0;
      const timer = setTimeout(
        () => this.fail(-1, `ranks did not become ready within ${this.opts.startupTimeoutMs ?? 600_000} ms`),
        this.opts.startupTimeoutMs ?? 600_000,
      );
      this.onStartupFailure = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      for (let rank = 0; rank < worldSize; rank++) {
        // Ranks run built JavaScript: they take none of the parent's Node flags (e.g. --input-type).
        const w = new Worker(workerUrl, { workerData: workerData(rank), execArgv: [] });
        w.on('message', (m: WorkerMessage) => {
          if (m.type === 'progress') this.opts.onProgress?.(m);
          else if (m.type === 'ready') {
            this.rankInfo[m.rank] = m.info;
            if (++ready === worldSize) {
              clearTimeout(timer);
              this.onStartupFailure = null;
              resolve();
            }
          } else this.onMessage(m);
        });
        w.on('error', (e) => this.fail(rank, `rank ${rank} crashed: ${e.message}`));
        w.on('exit', (code) => {
          this.exited.add(rank);
          if (!this.closing) this.fail(rank, `rank ${rank} exited unexpectedly (code ${code})`);
        });
        this.workers.push(w);
      }
    });
  }

  private onStartupFailure: ((e: Error) => void) | null = null;

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'error') {
      this.fail(m.rank, `rank ${m.rank} failed: ${m.message}`);
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

  /**
   * Marks the engine dead, fails everything in flight, tells peers of the dead rank and asks every
   * rank to shut down (each releases its device and ends its thread; one still running after
   * `STOP_GRACE_MS` is terminated). Ranks are not terminated at once: a thread stopped with
   * device work pending can abort the whole process (Dawn does).
   */
  private fail(rank: number, reason: string): void {
    if (this.deadReason !== null || this.closing) return;
    this.deadReason = reason;
    const err = new EngineDeadError(reason);
    if (rank >= 0) this.opts.onRankDeath?.(rank, reason);
    this.onStartupFailure?.(err);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    const msg: DriverMessage = { type: 'shutdown' };
    this.workers.forEach((w, r) => {
      if (this.exited.has(r)) return;
      w.postMessage(msg);
      setTimeout(() => {
        if (!this.exited.has(r)) void w.terminate();
      }, STOP_GRACE_MS).unref();
    });
  }

  /** Runs one step on every rank; resolves with the output rank's result. */
  execute(input: StepInput): Promise<StepOutput> {
    if (this.deadReason !== null) return Promise.reject(new EngineDeadError(this.deadReason));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timeout = this.opts.stepTimeoutMs ?? 600_000;
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
      const msg: DriverMessage = { type: 'step', id, input };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  /** Asks every rank to stop and waits for the threads to end. */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const msg: DriverMessage = { type: 'shutdown' };
    await Promise.all(
      this.workers.map(
        (w, rank) =>
          new Promise<void>((resolve) => {
            if (this.exited.has(rank)) return resolve();
            const t = setTimeout(() => void w.terminate().then(() => resolve()), 5_000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.postMessage(msg);
          }),
      ),
    );
  }

  /** Test hook: kills one rank's thread as a crash would. */
  async killRank(rank: number): Promise<void> {
    await this.workers[rank]?.terminate();
  }
}
