import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from './context.js';
import { type ChoiceDelta, generateAll, type PromptInput } from './generate.js';
import { SseWriter } from './sse.js';

/**
 * Starts a streamed response: the first delta is awaited before any byte is sent (so a request
 * the engine refuses still gets a JSON error), then the SSE stream opens. `deltas` yields every
 * delta until the end or the client leaving (which aborts the engine requests); an engine failure
 * mid-stream becomes one `error` record.
 */
export async function openStream(
  ctx: ServerContext,
  reply: FastifyReply,
  id: string,
  prompts: PromptInput[],
) {
  const cancel = new AbortController();
  const gen = generateAll(ctx, id, prompts, cancel.signal);
  const first = await gen.next();
  const sse = new SseWriter(reply);
  sse.signal.addEventListener('abort', () => cancel.abort(), { once: true });
  async function* deltas(): AsyncGenerator<ChoiceDelta> {
    try {
      if (!first.done) yield first.value;
      for await (const cd of gen) {
        if (sse.signal.aborted) break;
        yield cd;
      }
    } catch (e) {
      sse.send({
        error: { message: (e as Error).message, type: 'InternalServerError', param: null, code: 500 },
      });
    }
  }
  return { sse, deltas: deltas() };
}

/**
 * Runs a non-streamed request to the end, handing every delta to `onDelta`; a client that closes
 * the connection aborts the engine requests. A choice that ends in an engine error throws.
 */
export async function collectDeltas(
  ctx: ServerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  id: string,
  prompts: PromptInput[],
  onDelta: (cd: ChoiceDelta) => void,
): Promise<void> {
  const closed = new AbortController();
  req.raw.on('close', () => {
    if (!reply.sent) closed.abort();
  });
  for await (const cd of generateAll(ctx, id, prompts, closed.signal)) {
    onDelta(cd);
    if (cd.delta.finishReason === 'error') throw new Error(cd.delta.error ?? 'generation failed');
  }
}
