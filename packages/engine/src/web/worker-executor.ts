import type { DriverMessage } from '../executor/protocol.js';
import { RankExecutor, type RankExecutorOptions } from '../executor/rank-executor.js';
import type { WebWorkerLike } from './dom.js';
import type { WebDriverMessage, WebRankInit, WebWorkerMessage } from './protocol.js';

/** Options of `WebWorkerExecutor.start`. */
export interface WebWorkerExecutorOptions extends RankExecutorOptions {
  /** Starts the worker of one rank (a module script that calls `runWebRank()`), named `name`. */
  createWorker: (rank: number, name: string) => WebWorkerLike;
  /** The init message of each rank. */
  init: (rank: number) => WebRankInit;
}

/**
 * Runs one dedicated Web Worker per rank (made by `createWorker`, named `dcp-rank-N`) and steps
 * them together (`RankExecutor`): every rank gets the same `StepInput`, a step resolves once
 * every rank reported, with the output rank's result. A rank that reports an error, or a worker
 * error event, fails the step in flight and every later one with `EngineDeadError`.
 */
export class WebWorkerExecutor extends RankExecutor {
  /** The rank workers, by rank. */
  readonly workers: WebWorkerLike[] = [];
  private readonly closed = new Map<number, () => void>();

  private constructor(private readonly o: WebWorkerExecutorOptions) {
    super(o);
  }

  /** Starts every rank and waits until all are ready (or one fails). */
  static async start(o: WebWorkerExecutorOptions): Promise<WebWorkerExecutor> {
    const ex = new WebWorkerExecutor(o);
    await ex.startRanks();
    return ex;
  }

  protected spawn(rank: number): void {
    const w = this.o.createWorker(rank, `dcp-rank-${rank}`);
    w.addEventListener('message', (e) => {
      const m = e.data as WebWorkerMessage;
      if (m.type === 'closed') this.closed.get(m.rank)?.();
      else this.receive(m);
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

  protected broadcast(m: DriverMessage): void {
    for (const w of this.workers) w.postMessage(m);
  }

  /** A browser does not abort on a worker ended mid-work: a dead engine ends its workers at once. */
  protected stopAll(): void {
    for (const w of this.workers) w.terminate();
  }

  /** Asks every rank to release its device and close; terminates any that has not within 5 s. */
  async shutdown(): Promise<void> {
    if (!this.beginShutdown()) return;
    await Promise.all(
      this.workers.map(
        (w, rank) =>
          new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              w.terminate();
              resolve();
            };
            const t = setTimeout(done, this.dead === null ? 5_000 : 0);
            this.closed.set(rank, done);
            const msg: WebDriverMessage = { type: 'shutdown' };
            w.postMessage(msg);
          }),
      ),
    );
  }
}
