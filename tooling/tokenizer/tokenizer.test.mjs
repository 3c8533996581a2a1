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

const here = dirname(fileURLToPath(import.meta.url));
const { texts: samples } = JSON.parse(readFileSync(join(here, 'samples.json'), 'utf8'));
// Made by check_hf.py with the Rust `tokenizers` and transformers (see README).
const hf = JSON.parse(readFileSync(join(here, 'hf-reference.json'), 'utf8'));

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
      expect(tok.decode(withBos, { skip_special_tokens: true })).toBe(s.replaceAll(/<\|[a-z]+\|>/g, ''));
    }
  });

  it('encodes exactly as the Rust tokenizers library did, chat renderings included', () => {
    expect(hf.vocab_size).toBe(2048);
    expect(hf.texts.map((t) => t.text)).toEqual(samples);
    for (const t of hf.texts) {
      expect(t.round_trip && t.auto_matches, JSON.stringify(t.text)).toBe(true);
      expect(tok.encode(t.text, { add_special_tokens: false }).ids, JSON.stringify(t.text)).toEqual(t.ids);
      expect(tok.encode(t.text).ids).toEqual(t.ids_with_special);
    }
    expect(hf.chats[0].rendered).toBe('<|bos|><|user|>Hi there!<|eos|><|assistant|>');
    for (const c of hf.chats) {
      expect(tok.encode(c.rendered, { add_special_tokens: false }).ids).toEqual(c.ids);
      expect(c.ids[0]).toBe(0);
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
