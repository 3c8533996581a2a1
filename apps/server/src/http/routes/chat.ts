import type { ChatMessage } from '@dcp/engine';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { ChoiceDelta } from '../generate.js';
import { newId, nowSeconds } from '../ids.js';
import { type SamplingBody, toSamplingParams } from '../params.js';
import { checkModel, encodeText, tokenText } from '../prompts.js';
import { chatBody } from '../schemas.js';
import { collectDeltas, openStream } from '../stream.js';

interface ChatBody extends SamplingBody {
  model?: string | null;
  messages: { role: string; content?: string | { type: string; text?: string }[] | null }[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
}

interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

function textOf(m: ChatBody['messages'][number], i: number): string {
  if (m.content == null) return '';
  if (typeof m.content === 'string') return m.content;
  return m.content
    .map((p, j) => {
      if (p.type !== 'text' || typeof p.text !== 'string') {
        throw new ApiError(
          400,
          `only text content parts are supported, got type '${p.type}'`,
          `messages[${i}].content[${j}]`,
        );
      }
      return p.text;
    })
    .join('');
}

/** `POST /v1/chat/completions`: the model's chat template, streaming or not. */
export function registerChat(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBody } }, async (req, reply) => {
    const b = req.body;
    const model = checkModel(ctx, b.model);
    if (!ctx.tokenizer)
      throw new ApiError(
        400,
        'this model was loaded without a tokenizer: use /v1/completions with token ids',
        'messages',
      );
    const messages: ChatMessage[] = b.messages.map((m, i) => ({ role: m.role, content: textOf(m, i) }));
    let rendered: string;
    try {
      rendered = ctx.tokenizer.applyChatTemplate(messages);
    } catch (e) {
      throw new ApiError(
        400,
        `the chat template could not render these messages: ${(e as Error).message}`,
        'messages',
      );
    }
    const ids = ctx.tokenizer.encode(rendered, { addSpecialTokens: false });
    if (ids.length === 0) encodeText(ctx, '', 'messages');
    const wantLogprobs = b.logprobs ? (b.top_logprobs ?? 0) : null;
    const params = toSamplingParams(
      b,
      ids.length,
      ctx.maxModelLen,
      b.max_completion_tokens ?? b.max_tokens ?? null,
      wantLogprobs,
    );
    const prompts = [{ tokenIds: ids, text: rendered, params }];
    const id = newId('chatcmpl');
    const created = nowSeconds();
    const n = b.n ?? 1;
    const usage = { prompt_tokens: ids.length, completion_tokens: 0, total_tokens: 0 };
    const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
    const logprobsOf = (cd: ChoiceDelta): LogprobEntry[] | null =>
      cd.delta.logprobs?.map((t) => {
        const token = tokenText(ctx, t.tokenId);
        return {
          token,
          logprob: t.logprob,
          bytes: bytes(token),
          top_logprobs: t.top.map((x) => {
            const s = tokenText(ctx, x.tokenId);
            return { token: s, logprob: x.logprob, bytes: bytes(s) };
          }),
        };
      }) ?? null;
    const finishOf = (cd: ChoiceDelta) => (cd.delta.finishReason === 'abort' ? null : cd.delta.finishReason);
    if (b.stream) {
      const { sse, deltas } = await openStream(ctx, reply, id, prompts);
      const chunk = (choices: unknown[], extra: object = {}) =>
        sse.send({ id, object: 'chat.completion.chunk', created, model, choices, ...extra });
      for (let i = 0; i < n; i++)
        chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
      const sendDelta = (cd: ChoiceDelta) => {
        usage.completion_tokens += cd.delta.newTokenIds.length;
        if (cd.delta.newText === '' && !cd.delta.finished) return;
        const lp = logprobsOf(cd);
        chunk([
          {
            index: cd.choice,
            delta: cd.delta.newText === '' ? {} : { content: cd.delta.newText },
            logprobs: lp ? { content: lp } : null,
            finish_reason: finishOf(cd),
            stop_reason: cd.delta.stopReason,
          },
        ]);
      };
      for await (const cd of deltas) sendDelta(cd);
      if (b.stream_options?.include_usage) {
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        chunk([], { usage });
      }
      sse.end();
      return reply;
    }
    const acc = Array.from({ length: n }, () => ({
      text: '',
      tokens: 0,
      logprobs: [] as LogprobEntry[],
      finish: null as string | null,
      stop: null as string | number | null,
    }));
    await collectDeltas(ctx, req, reply, id, prompts, (cd) => {
      const a = acc[cd.choice]!;
      a.text += cd.delta.newText;
      a.tokens += cd.delta.newTokenIds.length;
      a.logprobs.push(...(logprobsOf(cd) ?? []));
      if (cd.delta.finished) {
        a.finish = finishOf(cd);
        a.stop = cd.delta.stopReason;
      }
    });
    usage.completion_tokens = acc.reduce((s, a) => s + a.tokens, 0);
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: acc.map((a, i) => ({
        index: i,
        message: { role: 'assistant', content: a.text },
        logprobs: wantLogprobs === null ? null : { content: a.logprobs },
        finish_reason: a.finish,
        stop_reason: a.stop,
      })),
      usage,
    };
  });
}
