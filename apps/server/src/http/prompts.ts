import type { ServerContext } from './context.js';
import { ApiError } from './errors.js';

/** Checks the `model` field against the served names (absent means the first). */
export function checkModel(ctx: ServerContext, model: string | null | undefined): string {
  if (model == null || model === '') return ctx.servedModelNames[0]!;
  if (!ctx.servedModelNames.includes(model)) {
    throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model', 'NotFoundError');
  }
  return model;
}

/** Tokenizes text, or explains that this server has no tokenizer. */
export function encodeText(ctx: ServerContext, text: string, param: string): number[] {
  if (!ctx.tokenizer) {
    throw new ApiError(
      400,
      'this model was loaded without a tokenizer (--skip-tokenizer-init): send token ids',
      param,
    );
  }
  const ids = ctx.tokenizer.encode(text);
  if (ids.length === 0) throw new ApiError(400, `${param} must not be empty`, param);
  return ids;
}

/** The text of one token for logprobs (`token_id:N` without a tokenizer). */
export function tokenText(ctx: ServerContext, id: number): string {
  return ctx.tokenizer ? ctx.tokenizer.decode([id], { skipSpecialTokens: false }) : `token_id:${id}`;
}

/** The prompts of a completion body: text, token ids, or lists of either. */
export function completionPrompts(
  ctx: ServerContext,
  prompt: unknown,
): { ids: number[]; text: string | null }[] {
  const one = (p: unknown, i: number | null): { ids: number[]; text: string | null } => {
    const param = i === null ? 'prompt' : `prompt[${i}]`;
    if (typeof p === 'string') return { ids: encodeText(ctx, p, param), text: p };
    const ids = p as number[];
    return { ids, text: ctx.tokenizer ? ctx.tokenizer.decode(ids, { skipSpecialTokens: false }) : null };
  };
  if (typeof prompt === 'string') return [one(prompt, null)];
  const arr = prompt as unknown[];
  if (typeof arr[0] === 'number') return [one(arr, null)];
  return arr.map((p, i) => one(p, i));
}
