import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { countPretokens, SPECIAL_TOKENS, tokenizerJson, trainBpe } from './bpe.mjs';
import { brownSplit, brownText } from './brown.mjs';

const preset = join(dirname(fileURLToPath(import.meta.url)), '../../packages/model/presets/tiny');
const json = JSON.parse(readFileSync(join(preset, 'tokenizer.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(preset, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(json, config);

const samples = [
  'The quick brown fox jumps over the lazy dog.',
  'Crème brûlée, naïve café, Zürich, São Paulo, Łódź — “quoted” ‘text’…',
  'Ελληνικά, русский язык, עברית, العربية, हिन्दी',
  '東京都は日本の首都です。한국어 텍스트. 中文句子。',
  'emoji 🚀🧪👩🏽‍💻 flags 🇫🇷 and ZWJ sequences',
  'tabs\tand\nnewlines\r\n  double  spaces   and trailing space ',
  'numbers 3.14159, 1,000,000 and 2026-11-28T18:00:00Z',
  'code: if (x !== y) { return a[i] ?? b; } // done',
  '',
  ' ',
];

describe('the tiny preset tokenizer', () => {
  it('has exactly 2048 tokens with the special tokens at ids 0..5', () => {
    const vocab = tok.get_vocab(true);
    expect(vocab.size).toBe(2048);
    expect(Math.max(...vocab.values())).toBe(2047);
    SPECIAL_TOKENS.forEach((t, id) => {
      expect(tok.token_to_id(t)).toBe(id);
      expect(tok.encode(`a${t}b`, { add_special_tokens: false }).ids).toContain(id);
    });
    expect(config.bos_token).toBe('<|bos|>');
    expect(config.eos_token).toBe('<|eos|>');
  });

  it('round-trips sample text, non-ASCII included, with and without special tokens', () => {
    for (const s of samples) {
      const plain = tok.encode(s, { add_special_tokens: false }).ids;
      // tokenizers.js refuses to decode an empty id list, so the empty string is checked by its ids.
      if (s === '') expect(plain).toEqual([]);
      else expect(tok.decode(plain), JSON.stringify(s)).toBe(s);
      const withBos = tok.encode(s).ids;
      expect(withBos[0]).toBe(0);
      expect(tok.decode(withBos, { skip_special_tokens: true })).toBe(s);
    }
  });

  it('round-trips the held-out Brown documents and compresses them', { timeout: 60_000 }, () => {
    const { heldOut } = brownSplit();
    expect(heldOut.length).toBe(50);
    let chars = 0;
    let tokens = 0;
    for (const id of heldOut.slice(0, 10)) {
      const text = brownText(id);
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      expect(tok.decode(ids)).toBe(text);
      chars += text.length;
      tokens += ids.length;
    }
    // bytes alone would be 1 token a character; 2048 merges of English get well under a half.
    expect(tokens / chars).toBeLessThan(0.4);
  });

  it('is what train-bpe.mjs produces from the training split', { timeout: 120_000 }, () => {
    const counts = new Map();
    for (const id of brownSplit().train) countPretokens(`${brownText(id)}\n`, counts);
    const fresh = tokenizerJson(trainBpe(counts, 2048 - SPECIAL_TOKENS.length - 256));
    expect(fresh.model.merges).toEqual(json.model.merges);
    expect(fresh).toEqual(json);
  });
});
