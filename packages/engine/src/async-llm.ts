import { EngineDeadError } from './errors.js';
import type { LLMEngine } from './llm-engine.js';
import type { CompletionDelta } from './outputs.js';
import type { EngineRequest } from './request-input.js';

/** Runs `f` after pending I/O: `setImmediate` in Node, a zero timeout in browsers (which lack it). */
function later(f: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(f);
  else setTimeout(f, 0);
}

interface Stream {
  queue: CompletionDelta[];
  wake: (() => void) | null;
  open: number;
}

/**
 * The asynchronous front the server uses: a background loop steps the engine while any request is
 * unfinished, and `generate()` streams each request's deltas as an async iterator. Leaving the
 * iterator early (a client that disconnects) aborts the request and frees its KV blocks at once.
 */
export class AsyncLLM {
  private readonly streams = new Map<string, Stream>();
  private running = false;
  private stopped = false;
  /** Called after every step (metrics). */
  onStep: ((deltas: CompletionDelta[]) => void) | null = null;

  constructor(readonly engine: LLMEngine) {}

  /** Streams the deltas of one request until all its choices finish. */
  async *generate(req: EngineRequest): AsyncGenerator<CompletionDelta, void, undefined> {
    if (this.stopped) throw new EngineDeadError('the engine is shutting down');
    if (this.streams.has(req.requestId)) throw new Error(`request id ${req.requestId} is already running`);
    this.engine.addRequest(req);
    const s: Stream = { queue: [], wake: null, open: req.params?.n ?? 1 };
    this.streams.set(req.requestId, s);
    this.kick();
    let done = false;
    try {
      while (s.open > 0) {
        if (s.queue.length === 0) await new Promise<void>((r) => (s.wake = r));
        while (s.queue.length > 0) {
          const d = s.queue.shift()!;
          if (d.finished) s.open--;
          yield d;
        }
      }
      done = true;
    } finally {
      this.streams.delete(req.requestId);
      if (!done) this.engine.abort([req.requestId]);
    }
  }

  /** Aborts a request by id. */
  abort(requestId: string): void {
    this.engine.abort([requestId]);
    this.kick();
  }

  /** Aborts every request in flight; their streams end with an `abort` delta. */
  abortAll(): void {
    this.engine.abort([...this.streams.keys()]);
    this.kick();
  }

  /** Number of requests being streamed. */
  get numInFlight(): number {
    return this.streams.size;
  }

  /** Stops taking requests, aborts the ones in flight, and stops the ranks. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.engine.abort([...this.streams.keys()]);
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.engine.shutdown();
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    later(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.engine.hasUnfinishedRequests()) {
        const deltas = await this.engine.step();
        for (const d of deltas) {
          const s = this.streams.get(d.requestId);
          if (!s) continue;
          s.queue.push(d);
          s.wake?.();
          s.wake = null;
        }
        this.onStep?.(deltas);
        // Let I/O (new requests, disconnects) run between steps.
        await new Promise<void>((r) => later(r));
      }
    } finally {
      this.running = false;
    }
  }
}
