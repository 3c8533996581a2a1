import { parentPort, workerData } from 'node:worker_threads';
import type { DriverMessage, StepInput, StepOutput, WorkerMessage } from './protocol.js';

/** What a rank's worker runs: built once, then stepped. */
export interface RankRunner {
  /** Facts to report at startup (backend, KV blocks, ...). */
  info(): Record<string, unknown>;
  /** Runs one step; the output rank returns its outputs, the others null. */
  execute(input: StepInput): Promise<StepOutput | null>;
  /** Releases memory and handles. */
  close?(): Promise<void> | void;
}

/**
 * The body of a worker thread: builds the rank's runner from `workerData`, reports ready, then
 * executes steps in order until told to shut down. Any error is reported to the driver (which
 * marks the engine dead) and ends the thread.
 */
export function runWorkerLoop(create: (data: unknown) => Promise<RankRunner>): void {
  const port = parentPort;
  if (!port) throw new Error('runWorkerLoop must run inside a worker thread');
  const rank = (workerData as { rank: number }).rank;
  const post = (m: WorkerMessage) => port.postMessage(m);
  const fail = (id: number | null, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id, rank, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    setTimeout(() => process.exit(1), 50);
  };
  let queue: Promise<void> = Promise.resolve();
  create(workerData)
    .then((runner) => {
      post({ type: 'ready', rank, info: runner.info() });
      port.on('message', (m: DriverMessage) => {
        if (m.type === 'shutdown') {
          queue = queue.then(async () => {
            await runner.close?.();
            port.close();
          });
          return;
        }
        queue = queue.then(async () => {
          try {
            const output = await runner.execute(m.input);
            post({ type: 'done', id: m.id, rank, output });
          } catch (e) {
            fail(m.id, e);
          }
        });
      });
    })
    .catch((e) => fail(null, e));
}
