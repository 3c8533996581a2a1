// Stand-ins for Web Workers in Node: each "worker" runs `runWebRank` on this thread with a scope
// object; messages are structured-cloned both ways (SharedArrayBuffers stay shared), delivered
// asynchronously, and nothing moves once either side closed it.
import type { RunWebRankOptions, WebWorkerLike, WorkerScopeLike } from '../../dist/web/index.js';
import { runWebRank } from '../../dist/web/index.js';

type Listener = (e: { data: unknown; message?: string }) => void;

/** A `createWorker` whose workers run `runWebRank(options(name))` in this thread. */
export function fakeWorkers(options: (name: string) => Omit<RunWebRankOptions, 'scope'> = () => ({})): {
  createWorker: (rank: number, name: string) => WebWorkerLike;
  created: string[];
} {
  const created: string[] = [];
  class FakeWorker implements WebWorkerLike {
    private readonly toPage: Listener[] = [];
    private readonly toRank: Listener[] = [];
    private closed = false;
    constructor(name: string) {
      created.push(name);
      const scope: WorkerScopeLike = {
        name,
        postMessage: (m) => this.deliver(this.toPage, m),
        addEventListener: (_t, l) => void this.toRank.push(l as Listener),
        close: () => {
          this.closed = true;
        },
      };
      runWebRank({ ...options(name), scope });
    }
    private deliver(to: Listener[], m: unknown): void {
      const data = structuredClone(m);
      setTimeout(() => {
        if (!this.closed) for (const l of to) l({ data });
      }, 0);
    }
    postMessage(m: unknown): void {
      this.deliver(this.toRank, m);
    }
    addEventListener(type: string, l: Listener): void {
      if (type === 'message') this.toPage.push(l);
    }
    terminate(): void {
      this.closed = true;
    }
  }
  return { createWorker: (_rank, name) => new FakeWorker(name), created };
}
