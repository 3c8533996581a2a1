import { brownModelDir, readBrownEvalReference, readBrownEvalSet } from '@dcp/brown-model';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveModel } from '../dist/node.js';
import { type Layout, label, promptLogits, startFp32 } from './helpers.js';

/**
 * The trained brown model's held-out evaluation through the engine, in fp32 on CPU threads: the
 * per-window summed NLL of a subset of the committed windows matches transformers' reference
 * (1e-3 relative, window by window), and every layout gives the same perplexity (1e-4 relative).
 * A subset (the first WINDOWS windows, 255 predictions each) keeps this within CI time on 2 cores;
 * `dcp eval-ppl` runs the whole set.
 */
const WINDOWS = 2;
const set = readBrownEvalSet();
const ref = readBrownEvalReference();
const windows = set.windows.slice(0, WINDOWS).map((w) => w.ids);

/** Float64 summed NLL of `ids[1..]` under rows `logits[0..n-2]` (row p predicts ids[p + 1]). */
function windowNll(logits: Float32Array[], ids: number[]): number {
  expect(logits.length).toBeGreaterThanOrEqual(ids.length - 1);
  let total = 0;
  for (let p = 0; p + 1 < ids.length; p++) {
    const row = logits[p]!;
    let m = Number.NEGATIVE_INFINITY;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    total += m + Math.log(s) - row[ids[p + 1]!]!;
  }
  return total;
}

const predicted = WINDOWS * set.predictedPerWindow;
const ppl = (nll: number[]) => Math.exp(nll.reduce((a, b) => a + b, 0) / predicted);

async function evalLayout(l: Layout): Promise<number[]> {
  // 128-token prefill chunks (two per window), 16-token blocks: room for both windows on every rank.
  const e = await startFp32('brown', l, (c) => {
    c.cache.blockSize = 16;
    c.cache.numGpuBlocksOverride = 40;
    c.scheduler.maxNumBatchedTokens = 128;
  });
  try {
    const logits = await promptLogits(e, windows, `ppl-${label(l)}-`);
    return logits.map((rows, i) => windowNll(rows, windows[i]!));
  } finally {
    await e.llm.shutdown();
  }
}

describe('model names', () => {
  it('brown resolves to @dcp/brown-model with its weights and tokenizer; the presets stay', () => {
    const brown = resolveModel('brown', 'auto');
    expect([brown.name, brown.dir, brown.loadFormat]).toEqual(['brown', brownModelDir, 'safetensors']);
    expect(brown.tokenizer).not.toBeNull();
    for (const preset of ['tiny', 'deepseek-v2-lite']) {
      expect(resolveModel(preset, 'auto').loadFormat).toBe('dummy');
    }
    expect(() => resolveModel('browny', 'auto')).toThrow(
      /neither a model name \(brown, tiny, deepseek-v2-lite\)/,
    );
  });
});

const seen: string[] = [];
afterAll(() => console.log(`brown-model perplexity on ${WINDOWS} windows:\n${seen.join('\n')}`));

describe('brown-model held-out perplexity through the engine (fp32, CPU threads)', () => {
  let tp1: number[] = [];

  it('tp1 matches the transformers reference window by window (1e-3 relative)', async () => {
    tp1 = await evalLayout({ tp: 1, pp: 1, dcp: 1 });
    const refNll = ref.per_window.slice(0, WINDOWS).map((w) => w.nll);
    tp1.forEach((v, i) => {
      expect(Math.abs(v - refNll[i]!) / refNll[i]!).toBeLessThan(1e-3);
    });
    const rel = Math.abs(ppl(tp1) - ppl(refNll)) / ppl(refNll);
    seen.push(`tp1·pp1·dcp1 ppl ${ppl(tp1)} (reference ${ppl(refNll)}, rel ${rel.toExponential(2)})`);
    expect(rel).toBeLessThan(1e-3);
  }, 600_000);

  const layouts: Layout[] = [
    { tp: 2, pp: 1, dcp: 2 },
    { tp: 4, pp: 1, dcp: 4 },
    { tp: 2, pp: 2, dcp: 2 },
  ];
  for (const l of layouts) {
    it(`${label(l)} gives tp1's perplexity (1e-4 relative)`, async () => {
      expect(tp1).toHaveLength(WINDOWS);
      const got = await evalLayout(l);
      const rel = Math.abs(ppl(got) - ppl(tp1)) / ppl(tp1);
      seen.push(`${label(l)} ppl ${ppl(got)} (rel to tp1 ${rel.toExponential(2)})`);
      expect(rel).toBeLessThan(1e-4);
      got.forEach((v, i) => {
        expect(Math.abs(v - tp1[i]!) / tp1[i]!).toBeLessThan(1e-4);
      });
    }, 600_000);
  }
});
