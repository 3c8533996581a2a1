/** Runs test workers (dist/test-worker.js) as the ranks of a topology. Test-only helper. */
// biome-ignore lint/correctness/noNodejsModules: spawning worker_threads is the point of these tests
import { Worker } from 'node:worker_threads';
import type { StepResult, WorkerInput, WorkerStep } from './test-worker.js';
import { createThreadCommState, type ThreadCommOptions, watchWorkers } from './thread-state.js';
import type { Topology } from './topology.js';

/** What one rank posted back. */
export interface RankOutcome {
  ok: boolean;
  idle?: boolean;
  step?: number;
  name?: string;
  message?: string;
  results: StepResult[];
}

const WORKER = new URL('../dist/test-worker.js', import.meta.url);

/**
 * Starts one worker per rank running `steps(rank)`, waits for every rank to report (or exit) and
 * returns the outcomes; terminates workers left idle. `extra(rank)` adds die/idle instructions.
 */
export async function runRanks(
  topology: Topology,
  steps: (rank: number) => WorkerStep[],
  options: ThreadCommOptions = {},
  extra: (rank: number) => Partial<WorkerInput> = () => ({}),
): Promise<(RankOutcome | { exited: number })[]> {
  const state = createThreadCommState(topology, options);
  const workers = topology.ranks.map(
    ({ rank }) =>
      new Worker(WORKER, {
        workerData: { state, rank, steps: steps(rank), ...extra(rank) } satisfies WorkerInput,
      }),
  );
  watchWorkers(state, workers);
  const outcomes = await Promise.all(
    workers.map(
      (w) =>
        new Promise<RankOutcome | { exited: number }>((resolve, reject) => {
          w.once('message', (m: RankOutcome) => resolve(m));
          w.once('error', reject);
          w.once('exit', (code) => resolve({ exited: code }));
        }),
    ),
  );
  await Promise.all(workers.map((w) => w.terminate()));
  return outcomes;
}
