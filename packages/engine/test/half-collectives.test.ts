import { describe, expect, it } from 'vitest';
import { greedyWithGaps, type Layout, label, startFp32 } from './helpers.js';

/**
 * f16 models reduce f16 activations across ranks: the shared-memory collectives must read those
 * 16-bit words as IEEE f16 (they read bf16 unless told), or every TP/DCP layout computes garbage
 * from the first token on. The `tiny` preset (dummy weights) in f16 with an f16 KV cache gives
 * the same greedy tokens at tp2·dcp2 (TP all-reduce, DCP reduce-scatter) as on one rank, up to the first step whose
 * one-rank top-2 logprob gap is below `TIE` (f16 rounding differs between layouts, so the bound
 * is looser than the fp32 tests' 1e-4).
 */
const TIE = 1e-2;
const NEW = 6;
const prompt = Array.from({ length: 24 }, (_, i) => 6 + ((i * 7919) % 2000));

async function run(l: Layout) {
  const e = await startFp32('tiny', l, (c) => {
    c.load.loadFormat = 'dummy';
    c.load.dtype = 'float16';
    c.cache.kvCacheDtype = 'float16';
  });
  try {
    return await greedyWithGaps(e.llm, prompt, NEW, 'h');
  } finally {
    await e.llm.shutdown();
  }
}

describe('f16 across ranks', () => {
  it('tp2·dcp2 gives one rank’s greedy tokens', async () => {
    const ref = await run({ tp: 1, pp: 1, dcp: 1 });
    const stop = ref.gaps.findIndex((g) => g < TIE);
    const upto = stop < 0 ? NEW : stop + 1;
    const l: Layout = { tp: 2, pp: 1, dcp: 2 };
    const got = await run(l);
    expect(got.tokens.slice(0, upto), label(l)).toEqual(ref.tokens.slice(0, upto));
    console.log(`f16 tokens ${ref.tokens.join(',')}; smallest top-2 gap ${Math.min(...ref.gaps).toFixed(4)}`);
  });
});
