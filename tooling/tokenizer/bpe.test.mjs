import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { byteToUnicode, countPretokens, tokenizerConfig, tokenizerJson, trainBpe } from './bpe.mjs';
import { brownText, detokenize } from './brown.mjs';

describe('byteToUnicode', () => {
  it('is GPT-2 map: printable bytes unchanged, the rest from U+0100 in byte order', () => {
    const m = byteToUnicode();
    expect(new Set(m).size).toBe(256);
    expect(m[0x41]).toBe('A');
    expect(m[0x7e]).toBe('~');
    expect(m[0xe9]).toBe('é');
    expect(m[0]).toBe('\u0100');
    expect(m[0x0a]).toBe('Ċ');
    expect(m[0x20]).toBe('Ġ');
    expect(m[0xad]).toBe('\u0143');
  });
});

describe('trainBpe', () => {
  it('learns the merges worked out by hand on a tiny corpus', () => {
    // "aaab" ×3, "ab" ×2: (a,a) 6 > (a,b) 5; then (a,b) 5 > (aa,a) 3; then (aa,ab) 3.
    const { merges, words, tokens } = trainBpe(
      new Map([
        ['aaab', 3],
        ['ab', 2],
      ]),
      3,
    );
    expect(merges).toEqual([
      ['a', 'a'],
      ['a', 'b'],
      ['aa', 'ab'],
    ]);
    expect(words.get('aaab')).toEqual(['aaab']);
    expect(words.get('ab')).toEqual(['ab']);
    expect(tokens.length).toBe(259);
    expect(() => trainBpe(new Map([['ab', 1]]), 2)).toThrow(/only 1 merges possible/);
  });

  it('segments every training word exactly as the Hugging Face BPE does with the written tokenizer.json', {
    timeout: 60_000,
  }, () => {
    const text = ['ca01', 'cb02', 'cn03'].map((id) => brownText(id)).join('\n');
    const counts = countPretokens(text);
    const model = trainBpe(counts, 400);
    const tok = new Tokenizer(tokenizerJson(model), tokenizerConfig());
    let checked = 0;
    for (const [word, seg] of model.words) {
      expect(tok.encode(word, { add_special_tokens: false }).tokens, JSON.stringify(word)).toEqual(seg);
      checked++;
    }
    expect(checked).toBe(counts.size);
  });
});

describe('detokenize', () => {
  it('strips tags and attaches punctuation and quotes', () => {
    expect(
      detokenize("\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( Atlanta's/np$ )/) ./."),
    ).toBe('The jury said "no evidence", (Atlanta\'s).');
    expect(detokenize('1/2/cd of/in it/pps')).toBe('1/2 of it');
  });
});
