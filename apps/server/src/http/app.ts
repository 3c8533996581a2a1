import { EngineDeadError, RequestError } from '@dcp/engine';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { ServerContext } from './context.js';
import { ApiError, errorBody } from './errors.js';
import { registerChat } from './routes/chat.js';
import { registerCompletions } from './routes/completions.js';

/** Options of the HTTP server. */
export interface ServerOptions {
  /** fastify/pino logger options, or false for none. */
  logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes (default 16 MiB). */
  bodyLimit?: number;
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: { instancePath?: string; params?: { missingProperty?: string } }[];
}

/** Maps any thrown error to an HTTP status and OpenAI-shaped body; never leaks a stack. */
function toResponse(ctx: ServerContext, e: unknown): { status: number; body: ReturnType<typeof errorBody> } {
  if (e instanceof ApiError)
    return { status: e.status, body: errorBody(e.status, e.message, e.param, e.type) };
  if (e instanceof RequestError) return { status: 400, body: errorBody(400, e.message, e.param) };
  if (e instanceof EngineDeadError || ctx.llm.engine.dead) {
    const why = ctx.llm.engine.dead ?? (e as Error).message;
    return { status: 503, body: errorBody(503, `the engine is not running: ${why}`) };
  }
  const f = e as FastifyLikeError;
  if (f.validation && f.validation.length > 0) {
    const v = f.validation[0]!;
    const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    const param = v.params?.missingProperty ?? (path || null);
    return {
      status: 400,
      body: errorBody(400, `invalid request: ${f.message.replace(/^body\/?/, '')}`, param),
    };
  }
  if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 400,
      body: errorBody(400, 'unsupported Content-Type: send application/json', 'content-type'),
    };
  }
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 400, body: errorBody(400, 'request body too large', null) };
  }
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return { status: 400, body: errorBody(400, `invalid request: ${f.message}`, null) };
  }
  return { status: 500, body: errorBody(500, 'internal server error', null) };
}

/** Builds the OpenAI-compatible server (not listening yet: call `listen`). */
export function buildServer(ctx: ServerContext, opts: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 16 * 1024 * 1024,
    // Validate, never convert: `"max_tokens": "3"` is a 400, and token ids stay token ids.
    ajv: { customOptions: { coerceTypes: false } },
  });
  // JSON only: any other content type is refused with a clear message.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((e, req, reply) => {
    const { status, body } = toResponse(ctx, e);
    if (status >= 500) req.log.error({ err: e }, 'request failed');
    else req.log.info({ status, message: body.error.message }, 'bad request');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send(errorBody(404, `route ${req.method} ${req.url} not found`));
  });

  app.addHook('onRequest', async (req, reply) => {
    const active = ctx.active;
    if (active && req.url.startsWith('/v1/')) {
      active.count++;
      reply.raw.once('close', () => active.count--);
    }
    if (ctx.apiKey === null || !req.url.startsWith('/v1/')) return;
    if (req.headers.authorization !== `Bearer ${ctx.apiKey}`) {
      await reply
        .status(401)
        .send(errorBody(401, 'invalid or missing API key (Authorization: Bearer <key>)'));
    }
  });
  app.addHook('preHandler', async (req) => {
    if (ctx.maxLogLen > 0 && req.body && typeof req.body === 'object') {
      const b = req.body as { prompt?: unknown; messages?: unknown };
      const text = JSON.stringify(b.prompt ?? b.messages ?? '');
      req.log.info({ prompt: text.slice(0, ctx.maxLogLen) }, 'request');
    }
  });

  app.get('/health', async (_req, reply) => {
    const dead = ctx.llm.engine.dead;
    if (dead) return reply.status(503).send(errorBody(503, `the engine is not running: ${dead}`));
    return reply.status(200).send();
  });
  app.get('/version', async () => ({ version: ctx.version }));
  app.get('/metrics', async (_req, reply) => {
    ctx.metrics.refresh();
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  app.get('/v1/models', async () => ({
    object: 'list',
    data: ctx.servedModelNames.map((id) => ({
      id,
      object: 'model',
      created: 0,
      owned_by: 'dcp',
      root: ctx.servedModelNames[0],
      parent: null,
      max_model_len: ctx.maxModelLen,
    })),
  }));
  registerCompletions(app, ctx);
  registerChat(app, ctx);
  return app;
}
