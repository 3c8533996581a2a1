import { parentPort, workerData } from 'node:worker_threads';
import type { DriverMessage, StepInput, StepOutput, WorkerMessage } from './protocol.js';

/** What a rank's worker runs: built once, then stepped. */
export interface RankRunner {
  /** Facts to report at startup (backend, KV blocks, ...). */
  info(): Record<string, unknown>;
  /** Runs one step; the output rank returns its outputs, the others null. */
  execute(input: StepInput): Promise<StepOutput | null>;
  /** Releases memory, devices and handles (before the thread ends, on shutdown and on failure). */
  close?(): Promise<void> | void;
}

/** How long a closing rank may take to end on its own before it exits forcibly. */
const EXIT_GRACE_MS = 2_000;

/**
 * The body of a worker thread: builds the rank's runner from `workerData`, reports ready, then
 * executes steps in order until told to shut down. Any error is reported to the driver (which
 * marks the engine dead and tells the other ranks to shut down) and ends the thread. Either way
 * the runner is closed first and the thread then ends by itself once its event loop is empty
 * (forced after `EXIT_GRACE_MS`): stopping a thread with device work pending can abort the whole
 * process (Dawn does), so ranks are not cut off mid-flight.
 */
export function runWorkerLoop(create: (data: unknown) => Promise<RankRunner>): void {
  const port = parentPort;
  if (!port) throw new Error('runWorkerLoop must run inside a worker thread');
  const rank = (workerData as { rank: number }).rank;
  const post = (m: WorkerMessage) => port.postMessage(m);
  let runner: RankRunner | null = null;
  let ending = false;
  const end = async (code: number) => {
    if (ending) return;
    ending = true;
    try {
      await runner?.close?.();
    } catch {
      // Already failing or shutting down: the close error changes nothing.
    }
    process.exitCode = code;
    port.close();
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  };
  const fail = (id: number | null, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id, rank, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    void end(1);
  };
  let queue: Promise<void> = Promise.resolve();
  const ready = create(workerData).then((r) => {
    runner = r;
    post({ type: 'ready', rank, info: r.info() });
    return r;
  });
  ready.catch((e) => fail(null, e));
  // Listening from the start: a shutdown sent while this rank still loads (a peer failed) is kept.
  port.on('message', (m: DriverMessage) => {
    queue = queue.then(async () => {
      const r = await ready.catch(() => null);
      if (m.type === 'shutdown') return end(0);
      if (!r || ending) return;
      try {
        const output = await r.execute(m.input);
        post({ type: 'done', id: m.id, rank, output });
      } catch (e) {
        fail(m.id, e);
      }
    });
  });
}
