import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenDecoder } from './detokenizer.js';

/** A chat message as OpenAI's API and Hugging Face chat templates take it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Text ↔ token ids, plus the chat template, as the engine and the server use them. */
export interface TextTokenizer extends TokenDecoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Renders messages with the model's chat template (with the generation prompt appended). */
  applyChatTemplate(messages: readonly ChatMessage[]): string;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly vocabSize: number;
}

/** A model folder's tokenizer files are missing or unusable. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return null;
}

/**
 * Builds a tokenizer from the parsed `tokenizer.json` and `tokenizer_config.json` of a Hugging
 * Face model folder (platform-neutral: the caller reads the files).
 */
export function createHfTokenizer(
  tokenizerJson: object,
  tokenizerConfig: Record<string, unknown>,
): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new TokenizerError(`tokenizer.json could not be loaded: ${(e as Error).message}`);
  }
  const bos = tokenText(tokenizerConfig.bos_token);
  const eos = tokenText(tokenizerConfig.eos_token);
  const templateSource = tokenizerConfig.chat_template;
  const template = typeof templateSource === 'string' ? new Template(templateSource) : null;
  const idOf = (t: string | null) => (t === null ? null : (tok.token_to_id(t) ?? null));
  return {
    encode: (text, o) => tok.encode(text, { add_special_tokens: o?.addSpecialTokens ?? true }).ids,
    decode: (ids, o) => tok.decode(ids as number[], { skip_special_tokens: o?.skipSpecialTokens ?? true }),
    applyChatTemplate(messages) {
      if (!template) throw new TokenizerError('this model has no chat_template in tokenizer_config.json');
      return template.render({
        messages,
        add_generation_prompt: true,
        bos_token: bos ?? '',
        eos_token: eos ?? '',
      });
    },
    eosTokenId: idOf(eos),
    bosTokenId: idOf(bos),
    vocabSize: tok.get_vocab(true).size,
  };
}
