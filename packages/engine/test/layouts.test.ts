import { afterAll, describe, expect, it } from 'vitest';
import { fixture, type Layout, label, promptLogits, startFp32, worstRelErr } from './helpers.js';

/**
 * The engine on worker threads reproduces Hugging Face transformers' float64 logits (fixtures
 * made on the GPU host) in every tp × pp × dcp layout, with chunked prefill (16-token budget,
 * 4-token blocks) on: DCP changes where the KV lives, nothing else.
 */
const everyLayout: Layout[] = [
  { tp: 1, pp: 1, dcp: 1 },
  { tp: 2, pp: 1, dcp: 1 },
  { tp: 2, pp: 1, dcp: 2 },
  { tp: 4, pp: 1, dcp: 2 },
  { tp: 4, pp: 1, dcp: 4 },
  { tp: 4, pp: 1, dcp: 4, interleave: 4 },
  { tp: 2, pp: 2, dcp: 2 },
  { tp: 2, pp: 2, dcp: 2, comm: 'a2a' },
  { tp: 4, pp: 2, dcp: 4 },
  { tp: 4, pp: 2, dcp: 4, interleave: 4, comm: 'a2a' },
];
const fewLayouts: Layout[] = [
  { tp: 1, pp: 1, dcp: 1 },
  { tp: 2, pp: 1, dcp: 2, interleave: 4 },
  { tp: 4, pp: 2, dcp: 4 },
];
const plan: [string, Layout[]][] = [
  ['moe-grouped-yarn', everyLayout],
  ['dense-qlora', everyLayout],
  ['moe-greedy', fewLayouts],
  ['latent576', fewLayouts],
  ['tied-yarn-bf16', fewLayouts],
];

const errors: string[] = [];
afterAll(() => {
  console.log(`worst max|Δ|/max|ref| per run:\n${errors.join('\n')}`);
});

describe('engine logits match transformers in every layout', () => {
  for (const [name, layouts] of plan) {
    const fx = fixture(name);
    for (const l of layouts) {
      it(`${name} ${label(l)}`, async () => {
        const e = await startFp32(fx.dir, l);
        try {
          const got = await promptLogits(
            e,
            fx.cases.map((c) => c.prompt_token_ids),
          );
          let worst = 0;
          fx.cases.forEach((c, i) => {
            worst = Math.max(worst, worstRelErr(got[i]!, c.logits));
          });
          errors.push(`${name} ${label(l)}: ${worst.toExponential(2)}`);
          expect(worst).toBeLessThanOrEqual(1e-4);
        } finally {
          await e.llm.shutdown();
        }
      });
    }
  }
});
