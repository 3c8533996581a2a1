import { describe, expect, it } from 'vitest';
import { bigramLogProb, scoreWindows, trainBigram, trainUnigram, unigramLogProb } from './ngram.mjs';

/** Seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDocs(r, vocab, n) {
  // skewed token choice so that some pairs repeat and some ids never occur
  return Array.from({ length: n }, () => [
    0,
    ...Array.from({ length: 5 + Math.floor(r() * 30) }, () => 1 + Math.floor(r() ** 4 * (vocab - 3))),
  ]);
}

describe('n-gram baselines', () => {
  const V = 40;
  const docs = randomDocs(rng(3), V, 30);

  it('are normalised over the vocabulary for every context, unseen ones included', () => {
    const uni = trainUnigram(docs, V);
    const bi = trainBigram(docs, V);
    for (let v = 0; v < V; v++) {
      let su = 0;
      let sb = 0;
      for (let w = 0; w < V; w++) {
        su += Math.exp(unigramLogProb(uni, v, w));
        sb += Math.exp(bigramLogProb(bi, v, w));
      }
      expect(Math.abs(su - 1)).toBeLessThan(1e-12);
      expect(Math.abs(sb - 1), `context ${v}`).toBeLessThan(1e-12);
    }
    expect(bi.ctx[V - 1]).toBe(0); // id V-1 never occurs: an unseen context was covered
  });

  it('match a direct count-table computation of add-1 and interpolated Kneser-Ney', () => {
    const c = Array.from({ length: V }, () => new Array(V).fill(0));
    const c1 = new Array(V).fill(0);
    for (const d of docs) {
      for (let i = 1; i < d.length; i++) {
        c[d[i - 1]][d[i]]++;
        c1[d[i]]++;
      }
    }
    const N = c1.reduce((a, b) => a + b, 0);
    const flat = c.flat();
    const n1 = flat.filter((x) => x === 1).length;
    const n2 = flat.filter((x) => x === 2).length;
    const D = n1 / (n1 + 2 * n2);
    const contW = (w) => c.filter((row) => row[w] > 0).length;
    const conts = Array.from({ length: V }, (_, w) => contW(w));
    const k1 = conts.filter((x) => x === 1).length;
    const k2 = conts.filter((x) => x === 2).length;
    expect(k1).toBeGreaterThan(0); // the corpus exercises the continuation discount
    const D1 = k1 / (k1 + 2 * k2);
    const pairs = flat.filter((x) => x > 0).length;
    const types = conts.filter((x) => x > 0).length;
    const pc = (w) => Math.max(conts[w] - D1, 0) / pairs + (D1 * types) / pairs / V;
    const uni = trainUnigram(docs, V);
    const bi = trainBigram(docs, V);
    for (let v = 0; v < V; v++) {
      const cv = c[v].reduce((a, b) => a + b, 0);
      const follow = c[v].filter((x) => x > 0).length;
      for (let w = 0; w < V; w++) {
        const want = cv === 0 ? pc(w) : Math.max(c[v][w] - D, 0) / cv + ((D * follow) / cv) * pc(w);
        expect(Math.abs(Math.exp(bigramLogProb(bi, v, w)) - want)).toBeLessThan(1e-14);
        expect(Math.abs(Math.exp(unigramLogProb(uni, v, w)) - (c1[w] + 1) / (N + V))).toBeLessThan(1e-14);
      }
    }
  });

  it('score windows as summed NLL with argmax hits', () => {
    const bi = trainBigram(docs, V);
    const windows = randomDocs(rng(9), V, 5);
    const s = scoreWindows(bi, bigramLogProb, windows);
    windows.forEach((ids, k) => {
      let nll = 0;
      let hits = 0;
      for (let i = 1; i < ids.length; i++) {
        nll -= bigramLogProb(bi, ids[i - 1], ids[i]);
        const probs = Array.from({ length: V }, (_, w) => bigramLogProb(bi, ids[i - 1], w));
        if (probs.indexOf(Math.max(...probs)) === ids[i]) hits++;
      }
      expect(Math.abs(s.nll[k] - nll)).toBeLessThan(1e-9);
      expect(s.correct[k]).toBe(hits);
    });
    const n = windows.reduce((a, w) => a + w.length - 1, 0);
    expect(s.predictedTokens).toBe(n);
    expect(Math.abs(s.ppl - Math.exp(s.nll.reduce((a, b) => a + b, 0) / n))).toBeLessThan(1e-9);
  });

  it('refuse a non-positive add-alpha', () => {
    expect(() => trainUnigram(docs, V, 0)).toThrow(/alpha/);
  });
});
