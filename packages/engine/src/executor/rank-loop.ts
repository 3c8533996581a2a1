import type { DriverMessage, StepInput, StepOutput, WorkerMessage } from './protocol.js';

/** What a rank's worker runs: built once, then stepped. */
export interface RankRunner {
  /** Facts to report at startup (backend, KV blocks, ...). */
  info(): Record<string, unknown>;
  /** Runs one step; the output rank returns its outputs, the others null. */
  execute(input: StepInput): Promise<StepOutput | null>;
  /** Releases memory, devices and handles (before the worker ends, on shutdown and on failure). */
  close?(): Promise<void> | void;
}

/** How a rank talks to the driver and ends, on its platform. */
export interface RankLoopPlatform {
  rank: number;
  /** Posts a message to the driver. */
  post(m: WorkerMessage): void;
  /**
   * Ends the rank once its runner is closed: code 0 when the driver asked it to shut down, 1 when
   * it failed (its error was posted already).
   */
  exit(code: number): void;
}

/** A running rank loop. */
export interface RankLoop {
  /** Handles one message of the driver (steps run in order; `shutdown` closes and ends). */
  receive(m: DriverMessage): void;
  /** Reports `e` to the driver (for step `id`, or null), closes the runner and ends the rank. */
  fail(id: number | null, e: unknown): void;
}

/**
 * The body of a rank, the same in a worker thread and in a Web Worker: waits for `build`, reports
 * ready with the runner's info, then executes steps in order until told to shut down. Any error is
 * reported to the driver (which marks the engine dead and stops the other ranks) and ends the
 * rank. Either way the runner is closed before `exit`: a rank does not end with device work in
 * flight (in Node, Dawn aborts the whole process when a thread does). Messages are handled from
 * the start: a shutdown sent while the rank still builds (a peer failed) is kept.
 */
export function startRankLoop(build: Promise<RankRunner>, p: RankLoopPlatform): RankLoop {
  const { rank, post } = p;
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
    p.exit(code);
  };
  const fail = (id: number | null, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: 'error', id, rank, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    void end(1);
  };
  let queue: Promise<void> = Promise.resolve();
  const ready = build.then((r) => {
    runner = r;
    post({ type: 'ready', rank, info: r.info() });
    return r;
  });
  ready.catch((e) => fail(null, e));
  const receive = (m: DriverMessage) => {
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
  };
  return { receive, fail };
}
