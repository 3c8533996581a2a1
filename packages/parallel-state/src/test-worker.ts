/**
 * Worker used by this package's own tests (built to dist/test-worker.js): it joins the groups of
 * `workerData.state` as `workerData.rank`, runs a list of steps and posts the results back.
 * Not part of the public API.
 */
// biome-ignore lint/correctness/noNodejsModules: this worker only runs under Node's worker_threads
import { parentPort, workerData } from 'node:worker_threads';
import type { HostArray, ReduceOp } from './communicator.js';
import { threadGroupsFor } from './thread-comm.js';
import type { ThreadCommState } from './thread-state.js';

/** One step a test worker runs. */
export interface WorkerStep {
  group: 'world' | 'tp' | 'dcp' | 'pp';
  op: 'allGather' | 'reduceScatter' | 'allReduce' | 'allToAll' | 'broadcast' | 'barrier' | 'send' | 'recv';
  input?: HostArray;
  shape?: number[];
  dim?: number;
  reduce?: ReduceOp;
  root?: number;
  peer?: number;
  /** Start this step and go on without waiting for it (its result is collected at the end). */
  noAwait?: boolean;
}

/** What the test passes in `workerData`. */
export interface WorkerInput {
  state: ThreadCommState;
  rank: number;
  steps: WorkerStep[];
  /** Start this step, then exit the thread with `exitCode` shortly after (without finishing it). */
  dieAtStep?: number;
  exitCode?: number;
  /** Never enter this step: stay alive doing nothing until terminated. */
  idleAtStep?: number;
  /** Record a failing step as `{ error }` in the results and go on with the next one. */
  keepGoing?: boolean;
}

/** One step's result: the output buffer, null for steps without one, or the error of a failed step. */
export type StepResult = HostArray | null | { error: string; name: string };

async function runStep(groups: ReturnType<typeof threadGroupsFor>, s: WorkerStep): Promise<HostArray | null> {
  const c = groups[s.group];
  const input = s.input as HostArray;
  switch (s.op) {
    case 'allGather':
      return c.allGather(input, s.shape!, s.dim!);
    case 'reduceScatter':
      return c.reduceScatter(input, s.shape!, s.dim!, s.reduce);
    case 'allReduce':
      return c.allReduce(input, s.reduce);
    case 'allToAll':
      return c.allToAll(input, s.shape!, s.dim!);
    case 'broadcast':
      return c.broadcast(input, s.root!);
    case 'barrier':
      await c.barrier();
      return null;
    case 'send':
      await c.send(input, s.peer!);
      return null;
    case 'recv':
      return c.recv(input, s.peer!);
  }
}

async function main(): Promise<void> {
  const data = workerData as WorkerInput;
  const groups = threadGroupsFor(data.state, data.rank);
  const started: Promise<StepResult>[] = [];
  const settle = (p: Promise<HostArray | null>): Promise<StepResult> =>
    p.catch((e: Error) => ({ error: e.message, name: e.name }));
  for (let i = 0; i < data.steps.length; i++) {
    const step = data.steps[i]!;
    if (i === data.idleAtStep) {
      parentPort!.postMessage({ ok: true, idle: true, results: [] });
      setInterval(() => {}, 1000);
      return;
    }
    if (i === data.dieAtStep) {
      runStep(groups, step).catch(() => {});
      setTimeout(() => process.exit(data.exitCode ?? 1), 20);
      return;
    }
    const p = settle(runStep(groups, step));
    started.push(p);
    if (step.noAwait) continue;
    const r = await p;
    if (r && 'error' in r && !data.keepGoing) break;
  }
  const results = await Promise.all(started);
  const failed = results.findIndex((r) => r !== null && 'error' in r);
  if (failed >= 0 && !data.keepGoing) {
    const r = results[failed] as { error: string; name: string };
    parentPort!.postMessage({ ok: false, step: failed, name: r.name, message: r.error, results });
    return;
  }
  parentPort!.postMessage({ ok: true, results });
}

void main();
