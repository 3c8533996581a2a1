import type { FastifyReply } from 'fastify';

/** Server-sent events as OpenAI streams them: `data: {json}` records, then `data: [DONE]`. */
export class SseWriter {
  private readonly controller = new AbortController();

  constructor(private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) this.controller.abort();
    });
  }

  /** Aborted when the client goes away before the stream ends. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Sends one JSON record. */
  send(data: unknown): void {
    if (!this.controller.signal.aborted) this.reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends `data: [DONE]` and ends the response. */
  end(): void {
    if (!this.controller.signal.aborted) this.reply.raw.end('data: [DONE]\n\n');
  }
}
