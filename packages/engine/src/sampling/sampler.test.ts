import { describe, expect, it } from 'vitest';
import { sampleToken } from './sampler.js';

/** Independent float64 reference: the filtered, renormalised distribution vLLM samples from. */
function referenceDistribution(
  logits: number[],
  t: number,
  topK: number,
  topP: number,
  minP: number,
): number[] {
  const scaled = logits.map((x) => x / t);
  const m = Math.max(...scaled);
  const p = scaled.map((x) => Math.exp(x - m));
  const z = p.reduce((a, b) => a + b, 0);
  let q = p.map((x) => x / z);
  const qmax = Math.max(...q);
  q = q.map((x) => (x < minP * qmax ? 0 : x));
  const ranked = q.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const keep = new Set<number>();
  const limit = topK > 0 ? Math.min(topK, ranked.length) : ranked.length;
  const zk = ranked.slice(0, limit).reduce((a, [x]) => a + x, 0);
  let cum = 0;
  for (let j = 0; j < limit; j++) {
    const [x, i] = ranked[j]!;
    if (x === 0) break;
    keep.add(i);
    cum += x;
    if (cum >= topP * zk) break;
  }
  const out = q.map((x, i) => (keep.has(i) ? x : 0));
  const s = out.reduce((a, b) => a + b, 0);
  return out.map((x) => x / s);
}

function randomLogits(n: number, seed: number): number[] {
  let s = seed;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => (r() - 0.5) * 6);
}

describe('sampleToken', () => {
  it('is greedy at temperature 0 (first index among ties)', () => {
    const l = new Float32Array([0.5, 3, -1, 3, 2]);
    expect(sampleToken(l, { temperature: 0 }, 1, 0).tokenId).toBe(1);
  });

  it('returns raw log-probabilities that match an independent log-softmax', () => {
    const raw = randomLogits(50, 7);
    const l = Float32Array.from(raw);
    const r = sampleToken(l, { temperature: 0.7, logprobs: 5 }, 3, 2);
    const m = Math.max(...l);
    const lse = m + Math.log(Array.from(l).reduce((a, x) => a + Math.exp(x - m), 0));
    expect(r.logprob).toBeCloseTo(l[r.tokenId]! - lse, 10);
    const sorted = Array.from(l)
      .map((x, i) => [x, i] as const)
      .sort((a, b) => b[0] - a[0]);
    expect(r.topLogprobs.map((x) => x.tokenId)).toEqual(sorted.slice(0, 5).map(([, i]) => i));
    for (const t of r.topLogprobs) expect(t.logprob).toBeCloseTo(l[t.tokenId]! - lse, 10);
  });

  it('is a pure function of (seed, step)', () => {
    const l = Float32Array.from(randomLogits(100, 11));
    const a = Array.from({ length: 20 }, (_, s) => sampleToken(l, { temperature: 1 }, 42, s).tokenId);
    const b = Array.from({ length: 20 }, (_, s) => sampleToken(l, { temperature: 1 }, 42, s).tokenId);
    const c = Array.from({ length: 20 }, (_, s) => sampleToken(l, { temperature: 1 }, 43, s).tokenId);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  const cases = [
    { name: 'temperature only', t: 0.8, topK: 0, topP: 1, minP: 0 },
    { name: 'top-k', t: 1.2, topK: 3, topP: 1, minP: 0 },
    { name: 'top-p', t: 1, topK: 0, topP: 0.6, minP: 0 },
    { name: 'min-p', t: 1, topK: 0, topP: 1, minP: 0.3 },
    { name: 'all filters', t: 0.9, topK: 5, topP: 0.8, minP: 0.05 },
  ];
  for (const c of cases) {
    it(`draws from the filtered distribution (${c.name})`, () => {
      const raw = randomLogits(8, 99);
      const expected = referenceDistribution(raw, c.t, c.topK, c.topP, c.minP);
      const l = Float32Array.from(raw);
      const draws = 20000;
      const counts = new Array(8).fill(0);
      for (let s = 0; s < draws; s++) {
        const id = sampleToken(
          l,
          { temperature: c.t, topK: c.topK, topP: c.topP, minP: c.minP },
          1234,
          s,
        ).tokenId;
        counts[id]++;
      }
      for (let i = 0; i < 8; i++) {
        const p = expected[i]!;
        if (p === 0) expect(counts[i]).toBe(0);
        else {
          const sd = Math.sqrt(draws * p * (1 - p) || 1);
          expect(Math.abs(counts[i] - draws * p)).toBeLessThan(5 * sd + 1);
        }
      }
    });
  }
});
