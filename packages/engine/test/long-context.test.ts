import { describe, expect, it } from 'vitest';
import { greedyWithGaps, type Layout, label, startFp32 } from './helpers.js';

/**
 * A 4k-token prompt on the `tiny` preset (dummy weights, fp32): DCP 1, 2 and 4 generate the same
 * greedy tokens, up to the first step where the reference's top-2 gap is below 1e-4. Each DCP
 * rank holds a quarter (dcp 4) or half (dcp 2) of the context.
 */
const LEN = 4096;
const NEW = 4;
const prompt = Array.from({ length: LEN }, (_, i) => 6 + ((i * 7919) % 2000));

async function run(l: Layout) {
  const e = await startFp32('tiny', l, (c) => {
    c.load.loadFormat = 'dummy';
    c.cache.blockSize = 16;
    c.cache.numGpuBlocksOverride = 2 + Math.ceil((LEN + NEW) / (16 * l.dcp));
    c.scheduler.maxNumBatchedTokens = 2048;
    c.scheduler.maxModelLen = LEN + NEW;
  });
  try {
    return { ...(await greedyWithGaps(e.llm, prompt, NEW, 'long')), capacity: e.kv.tokenCapacity };
  } finally {
    await e.llm.shutdown();
  }
}

describe(`a ${LEN}-token prompt`, () => {
  it('gives the same greedy tokens with dcp 1, 2 and 4 (each rank holding 1/dcp of the KV)', async () => {
    const ref = await run({ tp: 1, pp: 1, dcp: 1 });
    const stop = ref.gaps.findIndex((g) => g < 1e-4);
    const upto = stop < 0 ? NEW : stop + 1;
    for (const l of [
      { tp: 2, pp: 1, dcp: 2 },
      { tp: 4, pp: 1, dcp: 4 },
    ]) {
      const got = await run(l);
      expect(got.tokens.slice(0, upto), label(l)).toEqual(ref.tokens.slice(0, upto));
      // Same number of blocks per rank would hold dcp× the tokens; here each rank got 1/dcp of them.
      expect(got.capacity).toBeGreaterThanOrEqual(LEN + NEW);
    }
    console.log(
      `long context: tokens ${ref.tokens.join(',')}; near-tie cut: ${stop >= 0 ? `at step ${stop}` : 'none'}`,
    );
  }, 1_200_000);
});
