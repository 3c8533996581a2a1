import { describe, expect, it } from 'vitest';
import { createFakeEngine, greedyWithGaps } from './index.js';

describe('greedyWithGaps', () => {
  it("follows the fake rank's next token and reports each step's top-2 logprob gap", async () => {
    const next = (h: readonly number[]) => (h.length * 7 + h[h.length - 1]!) % 50;
    const { llm } = createFakeEngine({ vocab: 50, next });
    try {
      const prompt = [3, 14, 15];
      const run = await greedyWithGaps(llm, prompt, 6, 'g');
      // Expected from `next` alone: each token extends the history the next one is made from.
      const history = [...prompt];
      for (let i = 0; i < 6; i++) history.push(next(history));
      expect(run.tokens).toEqual(history.slice(prompt.length));
      // The fake logits put 4 on the peak and −0.5 on its neighbours: a log-softmax gap of 4.5.
      expect(run.gaps).toHaveLength(6);
      for (const g of run.gaps) expect(g).toBeCloseTo(4.5, 5);
    } finally {
      await llm.shutdown();
    }
  });
});
