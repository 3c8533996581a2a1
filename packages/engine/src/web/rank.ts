import { type RankLoop, startRankLoop } from '../executor/rank-loop.js';
import { buildWebRank } from './build-rank.js';
import type { WorkerScopeLike } from './dom.js';
import type { WebDriverMessage, WebWorkerMessage } from './protocol.js';

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
 * runs on, then executes steps in order until told to shut down (the engine's one rank loop,
 * `startRankLoop`). Any error is reported to the page (which marks the engine dead and releases
 * the other ranks); the rank then closes its runner (releasing its device) and the worker.
 */
export function runWebRank(o: RunWebRankOptions = {}): void {
  const scope = o.scope ?? (globalThis as unknown as WorkerScopeLike);
  const build = o.build ?? buildWebRank;
  const post = (m: WebWorkerMessage) => scope.postMessage(m);
  let loop: RankLoop | null = null;
  const facts = () => ({
    scope: (globalThis as { constructor?: { name?: string } }).constructor?.name ?? 'unknown',
    workerName: scope.name ?? '',
  });
  scope.addEventListener('message', (e) => {
    const m = e.data as WebDriverMessage;
    if (m.type === 'init') {
      if (loop) return loop.fail(null, new Error('init: this rank was already initialised'));
      const { rank } = m;
      loop = startRankLoop(build(m, post, facts()), {
        rank,
        post,
        // A Web Worker has no exit event: the page learns of a shutdown from `closed`. A failed
        // rank lingers a moment so that its error reaches the page first.
        exit: (code) => {
          if (code !== 0) return void setTimeout(() => scope.close(), 50);
          post({ type: 'closed', rank });
          scope.close();
        },
      });
      return;
    }
    if (loop) return loop.receive(m);
    post({ type: 'error', id: null, rank: -1, message: `${m.type}: received before init` });
    setTimeout(() => scope.close(), 50);
  });
}
