import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeBaselines } from './baselines.mjs';
import { brownSplit, brownText, loadTokenizer } from './brown-tokens.mjs';
import { evalSetJson } from './eval-set.mjs';

const here = import.meta.dirname;
const committed = JSON.parse(readFileSync(join(here, 'brown-heldout-windows.json'), 'utf8'));

describe('the Brown held-out evaluation set', () => {
  it('is exactly what a fresh tokenization of the held-out documents gives', () => {
    expect(evalSetJson()).toEqual(committed);
  });

  it('holds the beginning of each of the 50 held-out documents, <|bos|> first', () => {
    const tok = loadTokenizer();
    expect(committed.windows.map((w) => w.doc)).toEqual(brownSplit().heldOut);
    for (const w of committed.windows) {
      expect(w.ids.length).toBe(256);
      expect(w.ids[0]).toBe(0);
      expect(w.ids.slice(1).every((id) => id >= 6 && id < 2048)).toBe(true); // no special tokens inside
      expect(brownText(w.doc).startsWith(tok.decode(w.ids.slice(1))), w.doc).toBe(true);
    }
  });

  it('has committed baselines that a fresh computation reproduces', { timeout: 180_000 }, () => {
    const committedBaselines = JSON.parse(readFileSync(join(here, 'brown-baselines.json'), 'utf8'));
    expect(computeBaselines()).toEqual(committedBaselines);
  });
});
