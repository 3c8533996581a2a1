import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { DriverMessage, WorkerMessage } from './protocol.js';
import { RankExecutor, type RankExecutorOptions } from './rank-executor.js';

/** Options of a `ThreadExecutor`. */
export interface ThreadExecutorOptions extends RankExecutorOptions {
  /** The built worker entry (JavaScript). */
  workerUrl: URL;
  /** `workerData` of each rank's worker. */
  workerData: (rank: number) => unknown;
  /**
   * Ranks share the process environment (`SHARE_ENV`) instead of each having a copy: needed where
   * native code of a rank reads a variable the rank sets (`--webgpu-devices`). Default false.
   */
  shareEnv?: boolean;
}

/** How long ranks of a dead engine may take to release their devices before they are terminated. */
const STOP_GRACE_MS = 5_000;

/**
 * Runs one worker thread per rank and steps them together (`RankExecutor`): every rank gets the
 * same `StepInput`, the step resolves once every rank reported, with the output rank's result. A
 * worker that throws or exits fails the step in flight (and every later one) with an
 * `EngineDeadError`.
 */
export class ThreadExecutor extends RankExecutor {
  private readonly workers: Worker[] = [];
  private readonly exited = new Set<number>();

  private constructor(private readonly opts: ThreadExecutorOptions) {
    super(opts);
  }

  /** Starts every rank and waits until all are ready (or one fails). */
  static async start(opts: ThreadExecutorOptions): Promise<ThreadExecutor> {
    const ex = new ThreadExecutor(opts);
    await ex.startRanks();
    return ex;
  }

  protected spawn(rank: number): void {
    // Ranks run built JavaScript: they take none of the parent's Node flags (e.g. --input-type).
    const w = new Worker(this.opts.workerUrl, {
      workerData: this.opts.workerData(rank),
      execArgv: [],
      ...(this.opts.shareEnv ? { env: SHARE_ENV } : {}),
    });
    w.on('message', (m: WorkerMessage) => this.receive(m));
    w.on('error', (e) => this.fail(rank, `rank ${rank} crashed: ${e.message}`));
    w.on('exit', (code) => {
      this.exited.add(rank);
      this.fail(rank, `rank ${rank} exited unexpectedly (code ${code})`);
    });
    this.workers.push(w);
  }

  protected broadcast(m: DriverMessage): void {
    for (const w of this.workers) w.postMessage(m);
  }

  /**
   * Asks every rank of a dead engine to shut down (each releases its device and ends its thread;
   * one still running after `STOP_GRACE_MS` is terminated). Ranks are not terminated at once: a
   * thread stopped with device work pending can abort the whole process (Dawn does).
   */
  protected stopAll(): void {
    const msg: DriverMessage = { type: 'shutdown' };
    this.workers.forEach((w, r) => {
      if (this.exited.has(r)) return;
      w.postMessage(msg);
      setTimeout(() => {
        if (!this.exited.has(r)) void w.terminate();
      }, STOP_GRACE_MS).unref();
    });
  }

  /** Asks every rank to stop and waits for the threads to end. */
  async shutdown(): Promise<void> {
    if (!this.beginShutdown()) return;
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
