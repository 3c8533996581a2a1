import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 as rng } from '@dcp/testkit';
import { describe, expect, it } from 'vitest';
import {
  type BrownEvalReference,
  compareWithReference,
  readBrownBaselines,
  readBrownEvalReference,
  readBrownEvalSet,
  summarizeEval,
} from './eval.js';

function fakeReference(nll: number[], correct: number[], per: number): BrownEvalReference {
  const n = nll.length * per;
  let total = 0;
  for (const v of nll) total += v;
  return {
    transformers: 'x',
    torch: 'x',
    computation: 'x',
    windows: nll.length,
    predicted_tokens: n,
    mean_nll: total / n,
    ppl: Math.exp(total / n),
    accuracy: correct.reduce((a, b) => a + b, 0) / n,
    correct: correct.reduce((a, b) => a + b, 0),
    per_window: nll.map((v, i) => ({ doc: `d${i}`, nll: v, correct: correct[i] ?? 0 })),
    fp64_cpu_check: { ppl: 0, accuracy: 0, max_rel_window_nll_diff: 0, per_window_nll: [] },
    all_held_out_windows: { windows: 0, predicted_tokens: 0, ppl: 0, accuracy: 0 },
  };
}

describe('summarizeEval', () => {
  it('gives exp(mean NLL) and the hit rate, against per-token float64 sums', () => {
    const r = rng(7);
    const per = 255;
    // per-token log-probs, summed per window here and token by token below
    const tokens = Array.from({ length: 6 }, () => Array.from({ length: per }, () => -8 * r()));
    const nll = tokens.map((w) => -w.reduce((a, b) => a + b, 0));
    const correct = tokens.map(() => Math.floor(r() * per));
    const s = summarizeEval(nll, correct, per);
    let acc = 0;
    let n = 0;
    for (const w of tokens) {
      for (const lp of w) {
        acc -= lp;
        n++;
      }
    }
    expect(s.predictedTokens).toBe(n);
    expect(Math.abs(s.meanNll - acc / n)).toBeLessThan(1e-12);
    expect(Math.abs(s.ppl / Math.exp(acc / n) - 1)).toBeLessThan(1e-12);
    expect(s.accuracy).toBe(correct.reduce((a, b) => a + b, 0) / n);
  });

  it('names the bad input', () => {
    expect(() => summarizeEval([], [], 255)).toThrow(/nll/);
    expect(() => summarizeEval([1], [1, 2], 255)).toThrow(/correct/);
    expect(() => summarizeEval([1], [1], 0)).toThrow(/predictedPerWindow/);
    expect(() => summarizeEval([1, Number.NaN], [1, 1], 3)).toThrow(/nll\[1\]/);
  });
});

describe('compareWithReference', () => {
  const r = rng(11);
  const nll = Array.from({ length: 50 }, () => 900 + 200 * r());
  const correct = nll.map(() => Math.floor(r() * 100));
  const ref = fakeReference(nll, correct, 255);

  it('accepts figures within the tolerance and points at the worst window', () => {
    const ours = nll.map((v, i) => v * (1 + (i === 17 ? 5e-4 : 1e-6)));
    const c = compareWithReference(ours, correct, ref, 1e-3);
    expect(c.ok).toBe(true);
    expect(c.mismatched).toEqual([]);
    expect(c.worstWindow.index).toBe(17);
    expect(c.worstWindow.doc).toBe('d17');
    expect(Math.abs(c.worstWindow.relDiff - 5e-4)).toBeLessThan(1e-9);
    expect(c.accuracyDiff).toBe(0);
  });

  it('flags one window off by more than the tolerance even when the perplexity still agrees', () => {
    const ours = [...nll];
    ours[3] = (ours[3] as number) * (1 + 3e-3);
    const c = compareWithReference(ours, correct, ref, 1e-3);
    expect(c.pplRelDiff).toBeLessThan(1e-3);
    expect(c.ok).toBe(false);
    expect(c.mismatched).toEqual([3]);
    expect(c.worstWindow.index).toBe(3);
  });

  it('flags NaN and a wrong window count', () => {
    const ours = [...nll];
    ours[0] = Number.NaN;
    expect(() => compareWithReference(ours, correct, ref)).toThrow(/nll\[0\]/);
    expect(() => compareWithReference(nll.slice(1), correct.slice(1), ref)).toThrow(/50/);
  });
});

describe('the shipped evaluation files', () => {
  it('read and agree with each other', () => {
    const set = readBrownEvalSet();
    const ref = readBrownEvalReference();
    const base = readBrownBaselines();
    expect(set.windows.length).toBe(50);
    expect(ref.windows).toBe(50);
    expect(ref.predicted_tokens).toBe(50 * 255);
    expect(ref.per_window.map((w) => w.doc)).toEqual(set.windows.map((w) => w.doc));
    for (const w of set.windows) for (const id of w.ids) expect(id >= 0 && id < 2048).toBe(true);
    // the summary figures are the per-window ones summed (recomputed here)
    const s = summarizeEval(
      ref.per_window.map((w) => w.nll),
      ref.per_window.map((w) => w.correct),
      255,
    );
    expect(Math.abs(s.ppl / ref.ppl - 1)).toBeLessThan(1e-12);
    expect(s.correct).toBe(ref.correct);
    expect(
      compareWithReference(
        ref.fp64_cpu_check.per_window_nll,
        ref.per_window.map((w) => w.correct),
        ref,
      ).ok,
    ).toBe(true);
    // it learned something: the model beats the bigram baseline, which beats the unigram one
    expect(base.windows).toBe(50);
    expect(ref.ppl).toBeLessThan(base.bigram.ppl);
    expect(base.bigram.ppl).toBeLessThan(base.unigram.ppl);
  });

  it('reject a malformed evaluation set with the field named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'brown-eval-'));
    const bad = join(dir, 'set.json');
    writeFileSync(
      bad,
      JSON.stringify({ window: 4, predictedPerWindow: 3, windows: [{ doc: 'x', ids: [5, 1, 2, 3] }] }),
    );
    expect(() => readBrownEvalSet(bad)).toThrow(/windows\[0\]\.ids/);
    writeFileSync(bad, JSON.stringify({ window: 4, predictedPerWindow: 4, windows: [] }));
    expect(() => readBrownEvalSet(bad)).toThrow(/predictedPerWindow/);
    writeFileSync(bad, JSON.stringify({ windows: 2, per_window: [{}] }));
    expect(() => readBrownEvalReference(bad)).toThrow(/per_window/);
  });
});
