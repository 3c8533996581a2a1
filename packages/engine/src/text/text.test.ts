import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer, type TokenDecoder } from './detokenizer.js';
import { StopStringMatcher } from './stop.js';

/** A byte-level decoder: token id = one UTF-8 byte; incomplete sequences decode to U+FFFD. */
const bytes: TokenDecoder = {
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
};

function rng(seed: number) {
  let s = seed;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const alphabet = ['a', ' ', 'é', 'ß', '中', '文', '😀', '🧪', '\n', 'Z'];

describe('IncrementalDetokenizer', () => {
  it('never splits a UTF-8 character and loses nothing', () => {
    const r = rng(5);
    for (let trial = 0; trial < 200; trial++) {
      const text = Array.from(
        { length: 1 + Math.floor(r() * 30) },
        () => alphabet[Math.floor(r() * alphabet.length)],
      ).join('');
      const ids = Array.from(new TextEncoder().encode(text));
      const d = new IncrementalDetokenizer(bytes, [104, 105]);
      let out = '';
      let i = 0;
      while (i < ids.length) {
        const step = 1 + Math.floor(r() * 3);
        const delta = d.push(ids.slice(i, i + step));
        expect(delta).not.toContain('\uFFFD');
        out += delta;
        i += step;
      }
      out += d.flush();
      expect(out).toBe(text);
      expect(d.text).toBe(text);
    }
  });

  it('releases a trailing incomplete character only on flush', () => {
    const d = new IncrementalDetokenizer(bytes, []);
    expect(d.push([0xe4, 0xb8])).toBe('');
    expect(d.flush()).toBe('\uFFFD');
  });
});

describe('StopStringMatcher', () => {
  it('cuts the output before the earliest stop string, even across deltas', () => {
    const m = new StopStringMatcher(['END', '\n\n']);
    const parts = ['Hello wo', 'rld E', 'N', 'D and more'];
    let out = '';
    let matched: string | null = null;
    for (const p of parts) {
      const r = m.push(p);
      out += r.text;
      matched = r.matched ?? matched;
    }
    expect(out).toBe('Hello world ');
    expect(matched).toBe('END');
  });

  it('never releases a prefix of a stop string that later completes', () => {
    const m = new StopStringMatcher(['abc']);
    expect(m.push('xxa').text).toBe('x');
    expect(m.push('b').text).toBe('x');
    const r = m.push('c');
    expect(r.matched).toBe('abc');
    expect(r.text).toBe('');
  });

  it('flushes held-back text when nothing matched', () => {
    const m = new StopStringMatcher(['abc']);
    expect(m.push('zab').text).toBe('z');
    expect(m.flush()).toBe('ab');
  });

  it('refuses empty stop strings', () => {
    expect(() => new StopStringMatcher([''])).toThrow(/empty/);
  });
});
