import { parentPort, workerData } from 'node:worker_threads';
import { type RankRunner, startRankLoop } from './rank-loop.js';

export type { RankRunner } from './rank-loop.js';

/** How long a closing rank may take to end on its own before it exits forcibly. */
const EXIT_GRACE_MS = 2_000;

/**
 * The body of a worker thread: builds the rank's runner from `workerData` and runs the rank loop
 * (`startRankLoop`: ready, steps in order, shutdown; an error is reported to the driver and ends
 * the rank). The runner is closed first and the thread then ends by itself once its event loop
 * is empty (forced after `EXIT_GRACE_MS`): stopping a thread with device work pending can abort
 * the whole process (Dawn does), so ranks are not cut off mid-flight.
 */
export function runWorkerLoop(create: (data: unknown) => Promise<RankRunner>): void {
  const port = parentPort;
  if (!port) throw new Error('runWorkerLoop must run inside a worker thread');
  const loop = startRankLoop(create(workerData), {
    rank: (workerData as { rank: number }).rank,
    post: (m) => port.postMessage(m),
    exit: (code) => {
      process.exitCode = code;
      port.close();
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
    },
  });
  port.on('message', loop.receive);
}
