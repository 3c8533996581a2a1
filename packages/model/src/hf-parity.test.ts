/**
 * Parity with Hugging Face transformers: every fixture in `fixtures/` (tiny random checkpoints and
 * float64 reference logits made with transformers 5.17) must match our tp1·pp1·dcp1 forward
 * within 1e-4 (max |Δ| / max |ref| per position), whether the prompt runs as one prefill, as
 * several chunks, or as a short prefill followed by token-by-token decode.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openHfModel } from './node.js';
import { loadRanks, runRequest, worstRelError } from './test/run.js';

const root = fileURLToPath(new URL('../fixtures/', import.meta.url));
const cases = existsSync(root)
  ? readdirSync(root).filter(
      (d) => existsSync(`${root}${d}/logits.json`) && existsSync(`${root}${d}/config.json`),
    )
  : [];

interface FixtureCase {
  prompt_token_ids: number[];
  logits: number[][];
}

const layout = { tp: 1, pp: 1, dcp: 1 };

describe.skipIf(cases.length === 0)('Hugging Face parity (fixtures)', () => {
  it('has fixtures', () => {
    expect(cases.length).toBeGreaterThanOrEqual(5);
  });

  for (const name of cases) {
    it(`${name}: prefill, chunked prefill and decode match transformers within 1e-4`, async () => {
      const ref = JSON.parse(readFileSync(`${root}${name}/logits.json`, 'utf8')) as { cases: FixtureCase[] };
      const opened = await openHfModel(`${root}${name}`);
      try {
        const { config, source } = opened;
        const { ranks } = await loadRanks(config, source, layout);
        for (const [k, c] of ref.cases.entries()) {
          const tokens = c.prompt_token_ids;
          const t = tokens.length;
          const expected = c.logits.flat();
          const chunkings: number[][] = [[t]];
          if (k === 0) {
            const third = Math.floor(t / 3);
            chunkings.push([third, third + 1, t - 2 * third - 1]);
            chunkings.push([2, ...Array<number>(t - 2).fill(1)]);
          }
          for (const chunks of chunkings) {
            const got = await runRequest(ranks, layout, config, tokens, chunks);
            const err = worstRelError(got, expected, config.vocabSize);
            expect(err, `${name} case ${k} chunks [${chunks.join(',')}]`).toBeLessThan(1e-4);
          }
        }
        for (const r of ranks) r.model.dispose();
      } finally {
        await opened.close();
      }
    });
  }
});
