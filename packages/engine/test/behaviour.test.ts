import { describe, expect, it } from 'vitest';
import {
  fixture,
  greedy,
  greedyWithGaps,
  type Layout,
  label,
  promptLogits,
  startFp32,
  worstRelErr,
} from './helpers.js';

const layouts: Layout[] = [
  { tp: 1, pp: 1, dcp: 1 },
  { tp: 2, pp: 1, dcp: 2 },
  { tp: 4, pp: 1, dcp: 4, interleave: 4 },
  { tp: 4, pp: 2, dcp: 4, comm: 'a2a' },
];

/** Reference greedy run with the top-2 logit gap of every generated step. */
async function referenceWithGaps(model: string, prompts: number[][], n: number) {
  const e = await startFp32(model, layouts[0]!);
  try {
    return await Promise.all(prompts.map((p, i) => greedyWithGaps(e.llm, p, n, `ref${i}`)));
  } finally {
    await e.llm.shutdown();
  }
}

/** Tokens must agree up to (not past) the first step whose reference top-2 gap is below 1e-4. */
function agreeUpToNearTie(got: number[], ref: { tokens: number[]; gaps: number[] }): { cut: boolean } {
  const stop = ref.gaps.findIndex((g) => g < 1e-4);
  const upto = stop < 0 ? ref.tokens.length : stop + 1;
  expect(got.slice(0, upto)).toEqual(ref.tokens.slice(0, upto));
  return { cut: stop >= 0 };
}

describe('greedy generation is the same in every layout', () => {
  for (const name of ['moe-grouped-yarn', 'latent576']) {
    it(`${name}: ${layouts.map(label).join(', ')}`, async () => {
      const fx = fixture(name);
      const prompts = fx.cases.map((c) => c.prompt_token_ids);
      const ref = await referenceWithGaps(fx.dir, prompts, 24);
      let cuts = 0;
      for (const l of layouts.slice(1)) {
        const e = await startFp32(fx.dir, l);
        try {
          const got = await Promise.all(prompts.map((p, i) => greedy(e, p, 24, `g${i}`)));
          got.forEach((g, i) => {
            if (agreeUpToNearTie(g, ref[i]!).cut) cuts++;
          });
        } finally {
          await e.llm.shutdown();
        }
      }
      console.log(
        `${name}: ${cuts} of ${prompts.length * (layouts.length - 1)} comparisons stopped at a near tie`,
      );
    });
  }
});

describe('scheduling choices change nothing', () => {
  it('chunked prefill, prefix-cache hits and preemption give the same logits and tokens', async () => {
    const fx = fixture('moe-greedy');
    const base = fx.cases[2]!.prompt_token_ids;
    // Shared prefixes (prefix-cache hits in whole virtual blocks) and distinct tails.
    const prompts = [base, [...base.slice(0, 16), 7, 9, 11], [...base.slice(0, 20), 3], base.slice(0, 12)];
    const layout: Layout = { tp: 2, pp: 1, dcp: 2 };
    const roomy = await startFp32(fx.dir, layout, (c) => {
      c.scheduler.maxNumBatchedTokens = 512;
      c.cache.enablePrefixCaching = false;
      c.cache.numGpuBlocksOverride = 256;
    });
    let refLogits: Float32Array[][];
    let refTokens: number[][];
    try {
      refLogits = await promptLogits(roomy, prompts);
      refTokens = await Promise.all(prompts.map((p, i) => greedy(roomy, p, 30, `r${i}`)));
    } finally {
      await roomy.llm.shutdown();
    }
    const tight = await startFp32(fx.dir, layout, (c) => {
      c.scheduler.maxNumBatchedTokens = 8;
      c.cache.enablePrefixCaching = true;
      c.cache.numGpuBlocksOverride = 14;
      c.scheduler.maxModelLen = 64;
    });
    try {
      await greedy(tight, prompts[0]!, 2, 'warm'); // fills the prefix cache
      const logits = await promptLogits(tight, prompts, 'again');
      for (const [i, rows] of logits.entries()) expect(worstRelErr(rows, refLogits[i]!)).toBeLessThan(1e-5);
      const tokens = await Promise.all(prompts.map((p, i) => greedy(tight, p, 30, `t${i}`)));
      const stats = tight.engine.getStats();
      expect(stats.prefixCacheHits).toBeGreaterThan(0);
      expect(stats.numPreemptionsTotal).toBeGreaterThan(0);
      expect(tokens).toEqual(refTokens);
    } finally {
      await tight.llm.shutdown();
    }
  });
});

describe('failures', () => {
  it('a rank killed mid-step fails the requests in flight within seconds and marks the engine dead', async () => {
    const e = await startFp32('tiny', { tp: 2, pp: 1, dcp: 2 }, (c) => {
      c.load.loadFormat = 'dummy';
      c.cache.numGpuBlocksOverride = 64;
    });
    try {
      const started = performance.now();
      let finish: string | null = null;
      let error = '';
      let tokens = 0;
      for await (const d of e.llm.generate({
        requestId: 'k',
        promptTokenIds: [1, 2, 3],
        params: { maxTokens: 200, ignoreEos: true },
      })) {
        tokens += d.newTokenIds.length;
        if (tokens === 3) void e.executor.killRank(1);
        if (d.finished) {
          finish = d.finishReason;
          error = d.error ?? '';
        }
      }
      expect(finish).toBe('error');
      expect(error).toMatch(/rank 1/);
      expect(performance.now() - started).toBeLessThan(20_000);
      expect(e.engine.dead).toMatch(/rank 1/);
    } finally {
      await e.llm.shutdown();
    }
  });
});

describe('seeded sampling', () => {
  it('gives the same tokens for the same seed in every layout (n = 2, temperature 0.9, top-p 0.95)', async () => {
    const fx = fixture('moe-greedy');
    const prompts = fx.cases.map((c) => c.prompt_token_ids);
    const runAll = async (l: Layout) => {
      const e = await startFp32(fx.dir, l);
      try {
        return await Promise.all(
          prompts.map(async (p, i) => {
            const byChoice: number[][] = [[], []];
            for await (const d of e.llm.generate({
              requestId: `s${i}`,
              promptTokenIds: p,
              params: { maxTokens: 16, temperature: 0.9, topP: 0.95, seed: 1000 + i, n: 2, ignoreEos: true },
            })) {
              byChoice[d.index]!.push(...d.newTokenIds);
            }
            return byChoice;
          }),
        );
      } finally {
        await e.llm.shutdown();
      }
    };
    const ref = await runAll(layouts[0]!);
    expect(ref[0]![0]).not.toEqual(ref[0]![1]);
    for (const l of layouts.slice(1)) expect(await runAll(l), label(l)).toEqual(ref);
  });
});
