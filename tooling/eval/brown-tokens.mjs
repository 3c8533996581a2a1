// The Brown corpus as token ids of the tiny tokenizer, and the fixed held-out windows.
// The split and the plain-text rendering are the tokenizer's (tooling/tokenizer/brown.mjs), reused
// as is so that the tokenizer, the model and the evaluation all see the same documents.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { brownSplit, brownText } from '../tokenizer/brown.mjs';

export { brownSplit, brownText };

/** Repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** The tiny preset's tokenizer folder (tokenizer.json + tokenizer_config.json). */
export const TOKENIZER_DIR = join(ROOT, 'packages/model/presets/tiny');

/** Special token ids of the tiny tokenizer. */
export const BOS = 0;
export const EOS = 1;
export const USER = 3;
export const ASSISTANT = 4;
export const VOCAB_SIZE = 2048;
/** Tokens per evaluation window, the leading <|bos|> included. */
export const WINDOW = 256;

/** Loads the tiny tokenizer with @huggingface/tokenizers (same ids as the Rust library; checked in tooling/tokenizer). */
export function loadTokenizer(dir = TOKENIZER_DIR) {
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  return new Tokenizer(json, config);
}

/** Token ids of a string, no special tokens added. */
export function encode(tok, text) {
  return tok.encode(text, { add_special_tokens: false }).ids;
}

/** Token ids of a whole Brown document (its sentences, one a line), no special tokens. */
export function docIds(tok, id) {
  return encode(tok, brownText(id));
}

/**
 * Every held-out document cut into non-overlapping windows of WINDOW tokens: `<|bos|>` followed by
 * the next WINDOW - 1 tokens of the document, from its start; a last piece shorter than that is
 * dropped. Returns `{ doc, index, ids }` in document order (index 0 = the document's beginning).
 */
export function heldOutWindows(tok, window = WINDOW) {
  const out = [];
  for (const doc of brownSplit().heldOut) {
    const ids = docIds(tok, doc);
    for (let index = 0; (index + 1) * (window - 1) <= ids.length; index++) {
      out.push({ doc, index, ids: [BOS, ...ids.slice(index * (window - 1), (index + 1) * (window - 1))] });
    }
  }
  return out;
}

/** The evaluation set: the first window of each of the 50 held-out documents. */
export function evalWindows(windows) {
  return windows.filter((w) => w.index === 0);
}
