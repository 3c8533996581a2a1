import type { StepOutput } from '../executor/protocol.js';
import type { RankRunner } from '../executor/worker-loop.js';
import { buildWebRank } from './build-rank.js';
import type { WorkerScopeLike } from './dom.js';
import type { WebDriverMessage, WebRankInit, WebWorkerMessage } from './protocol.js';

/** Options of `runWebRank`. */
export interface RunWebRankOptions {
  /** The worker's global scope (default: `self`). */
  scope?: WorkerScopeLike;
  /** Builds the rank (default: `buildWebRank`); for custom backends or weight sources. */
  build?: typeof buildWebRank;
}

/**
 * The body of a rank's Web Worker: call it from the module script whose URL you give
 * `createWebEngine` as `workerUrl`. It waits for the page's `init` message, builds the rank
 * (communicators, backend and device of its own, weights, KV cache), reports ready with what it
 * runs on, then executes steps in order until told to shut down. Any error is reported to the
 * page (which marks the engine dead and releases the other ranks) and closes the worker.
 */
export function runWebRank(o: RunWebRankOptions = {}): void {
  const scope = o.scope ?? (globalThis as unknown as WorkerScopeLike);
  const build = o.build ?? buildWebRank;
  const post = (m: WebWorkerMessage) => scope.postMessage(m);
  let rank = -1;
  let runner: Promise<RankRunner> | null = null;
  let queue: Promise<void> = Promise.resolve();
  const fail = (id: number | null, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id, rank, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    setTimeout(() => scope.close(), 50);
  };
  const facts = () => ({
    scope: (globalThis as { constructor?: { name?: string } }).constructor?.name ?? 'unknown',
    workerName: scope.name ?? '',
  });
  scope.addEventListener('message', (e) => {
    const m = e.data as WebDriverMessage;
    if (m.type === 'init') {
      if (runner) return fail(null, new Error('init: this rank was already initialised'));
      rank = (m as WebRankInit).rank;
      runner = build(m, post, facts());
      runner.then(
        (r) => post({ type: 'ready', rank, info: r.info() }),
        (err) => fail(null, err),
      );
      return;
    }
    const ready = runner;
    if (!ready) return fail(null, new Error(`${m.type}: received before init`));
    if (m.type === 'shutdown') {
      queue = queue.then(async () => {
        try {
          await (await ready).close?.();
        } finally {
          post({ type: 'closed', rank });
          scope.close();
        }
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        const output: StepOutput | null = await (await ready).execute(m.input);
        post({ type: 'done', id: m.id, rank, output });
      } catch (err) {
        fail(m.id, err);
      }
    });
  });
}
