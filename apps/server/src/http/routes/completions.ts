import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import type { ChoiceDelta } from '../generate.js';
import { newId, nowSeconds } from '../ids.js';
import { type SamplingBody, toSamplingParams } from '../params.js';
import { checkModel, completionPrompts, tokenText } from '../prompts.js';
import { completionBody } from '../schemas.js';
import { collectDeltas, openStream } from '../stream.js';

interface CompletionBody extends SamplingBody {
  model?: string | null;
  prompt: unknown;
  echo?: boolean | null;
  logprobs?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
}

interface ChoiceAcc {
  text: string;
  tokens: number;
  logprobs: {
    tokens: string[];
    token_logprobs: (number | null)[];
    top_logprobs: (Record<string, number> | null)[];
    text_offset: number[];
  } | null;
  finish: string | null;
  stop: string | number | null;
}

/** `POST /v1/completions`: OpenAI's legacy completions, with vLLM's extra sampling fields. */
export function registerCompletions(app: FastifyInstance, ctx: ServerContext): void {
  app.post<{ Body: CompletionBody }>(
    '/v1/completions',
    { schema: { body: completionBody } },
    async (req, reply) => {
      const b = req.body;
      const model = checkModel(ctx, b.model);
      const prompts = completionPrompts(ctx, b.prompt).map((p) => ({
        tokenIds: p.ids,
        text: p.text,
        params: toSamplingParams(b, p.ids.length, ctx.maxModelLen, b.max_tokens ?? 16, b.logprobs ?? null),
      }));
      const id = newId('cmpl');
      const created = nowSeconds();
      const n = b.n ?? 1;
      const usage = {
        prompt_tokens: prompts.reduce((a, p) => a + p.tokenIds.length, 0),
        completion_tokens: 0,
        total_tokens: 0,
      };
      const logprobsOf = (cd: ChoiceDelta, offset: number) => {
        const lp = cd.delta.logprobs;
        if (!lp) return null;
        const tokens = lp.map((t) => tokenText(ctx, t.tokenId));
        let off = offset;
        return {
          tokens,
          token_logprobs: lp.map((t) => t.logprob),
          top_logprobs: lp.map((t) =>
            Object.fromEntries(t.top.map((x) => [tokenText(ctx, x.tokenId), x.logprob])),
          ),
          text_offset: tokens.map((s) => {
            const o = off;
            off += s.length;
            return o;
          }),
        };
      };
      const echoText = (prompt: number) => (b.echo ? (prompts[prompt]!.text ?? '') : '');
      if (b.stream) {
        const { sse, deltas } = await openStream(ctx, reply, id, prompts);
        const offsets = new Map<number, number>();
        const sendDelta = (cd: ChoiceDelta) => {
          usage.completion_tokens += cd.delta.newTokenIds.length;
          const echoed = !offsets.has(cd.choice) ? echoText(cd.prompt) : '';
          const text = echoed + cd.delta.newText;
          const off = offsets.get(cd.choice) ?? 0;
          offsets.set(cd.choice, off + text.length);
          if (text === '' && !cd.delta.finished && !cd.delta.logprobs) return;
          sse.send({
            id,
            object: 'text_completion',
            created,
            model,
            choices: [
              {
                index: cd.choice,
                text,
                logprobs: logprobsOf(cd, off + echoed.length),
                finish_reason: cd.delta.finishReason === 'abort' ? null : cd.delta.finishReason,
                stop_reason: cd.delta.stopReason,
              },
            ],
          });
        };
        for await (const cd of deltas) sendDelta(cd);
        if (b.stream_options?.include_usage) {
          usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
          sse.send({ id, object: 'text_completion', created, model, choices: [], usage });
        }
        sse.end();
        return reply;
      }
      const acc: ChoiceAcc[] = Array.from({ length: prompts.length * n }, () => ({
        text: '',
        tokens: 0,
        logprobs:
          b.logprobs != null ? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] } : null,
        finish: null,
        stop: null,
      }));
      await collectDeltas(ctx, req, reply, id, prompts, (cd) => {
        const a = acc[cd.choice]!;
        const lp = logprobsOf(cd, a.text.length);
        a.text += cd.delta.newText;
        a.tokens += cd.delta.newTokenIds.length;
        if (lp && a.logprobs) {
          a.logprobs.tokens.push(...lp.tokens);
          a.logprobs.token_logprobs.push(...lp.token_logprobs);
          a.logprobs.top_logprobs.push(...lp.top_logprobs);
          a.logprobs.text_offset.push(...lp.text_offset);
        }
        if (cd.delta.finished) {
          a.finish = cd.delta.finishReason;
          a.stop = cd.delta.stopReason;
        }
      });
      usage.completion_tokens = acc.reduce((s, a) => s + a.tokens, 0);
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      return {
        id,
        object: 'text_completion',
        created,
        model,
        choices: acc.map((a, i) => ({
          index: i,
          text: echoText(Math.floor(i / n)) + a.text,
          logprobs: a.logprobs,
          finish_reason: a.finish,
          stop_reason: a.stop,
        })),
        usage,
      };
    },
  );
}
