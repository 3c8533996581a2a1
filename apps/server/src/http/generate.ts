import type { CompletionDelta, EngineRequest, EngineSamplingParams } from '@dcp/engine';
import type { ServerContext } from './context.js';

/** One prompt of an HTTP request, tokenized. */
export interface PromptInput {
  tokenIds: number[];
  /** The prompt's text (for `echo`), or null when given as token ids without a tokenizer. */
  text: string | null;
  params: EngineSamplingParams;
}

/** A delta tagged with its choice index across all prompts (`prompt · n + choice`). */
export interface ChoiceDelta {
  choice: number;
  prompt: number;
  delta: CompletionDelta;
}

/**
 * Runs every prompt of one HTTP request (each with `n` choices) on the engine and yields their
 * deltas as they come, interleaved. Records the request metrics. Closing the iterator early (a
 * client that went away) aborts every engine request and frees their KV blocks at once.
 */
export async function* generateAll(
  ctx: ServerContext,
  requestId: string,
  prompts: PromptInput[],
  signal?: AbortSignal,
): AsyncGenerator<ChoiceDelta> {
  const m = ctx.metrics;
  const start = performance.now();
  const n = prompts[0]?.params.n ?? 1;
  const queue: ChoiceDelta[] = [];
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  let live = prompts.length;
  const gens = prompts.map((p, i) => {
    const req: EngineRequest = {
      requestId: `${requestId}-${i}`,
      promptTokenIds: p.tokenIds,
      params: p.params,
    };
    return ctx.llm.generate(req);
  });
  const lastTokenAt = new Map<number, number>();
  const abortAll = () => {
    for (let i = 0; i < prompts.length; i++) ctx.llm.abort(`${requestId}-${i}`);
  };
  signal?.addEventListener('abort', abortAll, { once: true });
  const pump = async (g: AsyncGenerator<CompletionDelta>, prompt: number) => {
    try {
      for await (const d of g) {
        queue.push({ choice: prompt * n + d.index, prompt, delta: d });
        wake?.();
      }
    } catch (e) {
      failure ??= e;
    } finally {
      live--;
      wake?.();
    }
  };
  // Start the first one synchronously so parameter errors surface before any byte is sent.
  const first = await gens[0]!.next();
  if (!first.done) queue.push({ choice: first.value.index, prompt: 0, delta: first.value });
  const firstGen = (async function* () {
    if (!first.done) yield* gens[0]!;
  })();
  void pump(firstGen, 0);
  gens.slice(1).forEach((g, i) => void pump(g, i + 1));
  m.promptTokens.inc(prompts.reduce((a, p) => a + p.tokenIds.length, 0));
  try {
    while (live > 0 || queue.length > 0) {
      if (queue.length === 0) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
        continue;
      }
      const cd = queue.shift()!;
      if (signal?.aborted) continue;
      const now = performance.now();
      const k = cd.delta.newTokenIds.length;
      if (k > 0) {
        m.generationTokens.inc(k);
        const prev = lastTokenAt.get(cd.choice);
        if (prev === undefined) m.ttft.observe((now - start) / 1000);
        else m.itl.observe((now - prev) / 1000);
        lastTokenAt.set(cd.choice, now);
      }
      if (cd.delta.finished) {
        m.e2e.observe((now - start) / 1000);
        m.requestSuccess.inc({ finished_reason: cd.delta.finishReason ?? 'unknown' });
      }
      yield cd;
    }
    if (failure) throw failure;
  } finally {
    // Abort first (a generator parked waiting for its next delta only sees return() after one).
    signal?.removeEventListener('abort', abortAll);
    abortAll();
    for (const g of [firstGen, ...gens.slice(1)]) void g.return(undefined);
  }
}
