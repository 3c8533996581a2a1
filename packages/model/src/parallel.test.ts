/**
 * Every parallel layout computes the same function: TP (heads, vocab, experts split), DCP (KV
 * interleaved over ranks, absorbed decode with the LSE merge, context gathered for prefill) and
 * PP (layer ranges) must reproduce transformers' logits, through one prefill, chunked prefill
 * and token-by-token decode, on in-process communicators.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openHfModel } from './node.js';
import { type Layout, loadRanks, runRequest, worstRelError } from './test/run.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const layouts: Layout[] = [
  { tp: 2, pp: 1, dcp: 1 },
  { tp: 2, pp: 1, dcp: 2 },
  { tp: 2, pp: 1, dcp: 2, contextChunk: 4 }, // context attended in chunks of 4 tokens
  { tp: 4, pp: 1, dcp: 4 },
  { tp: 4, pp: 1, dcp: 4, combine: 'a2a' }, // the single all-to-all merge
  { tp: 4, pp: 1, dcp: 2, interleave: 2 },
  { tp: 2, pp: 2, dcp: 2 },
  { tp: 1, pp: 3, dcp: 1 },
];

const runs: [string, Layout][] = [
  ...layouts.map((l): [string, Layout] => ['moe-grouped-yarn', l]),
  ['tied-yarn-bf16', { tp: 2, pp: 2, dcp: 2 }], // tied head on the last stage, vocab-parallel
  ['latent576', { tp: 2, pp: 1, dcp: 2, interleave: 4, contextChunk: 8 }], // the real 576-wide latent
];

describe('parallel layouts match transformers', () => {
  for (const [fx, layout] of runs) {
    const dir = fixture(fx);
    const chunk = `${layout.contextChunk ? ` ctx-chunk ${layout.contextChunk}` : ''}${layout.combine ? ` ${layout.combine}` : ''}`;
    const name = `${fx} tp${layout.tp}·pp${layout.pp}·dcp${layout.dcp}·I${layout.interleave ?? 1}${chunk}`;
    it(`${name}: prefill, chunked prefill and decode`, async () => {
      const ref = JSON.parse(readFileSync(`${dir}/logits.json`, 'utf8')) as {
        cases: { prompt_token_ids: number[]; logits: number[][] }[];
      };
      const opened = await openHfModel(dir);
      try {
        const { config, source } = opened;
        const { ranks } = await loadRanks(config, source, layout);
        const c = ref.cases[1]!;
        const t = c.prompt_token_ids.length;
        for (const chunks of [[t], [5, 6, t - 11], Array<number>(t).fill(1)]) {
          const got = await runRequest(ranks, layout, config, c.prompt_token_ids, chunks);
          expect(
            worstRelError(got, c.logits.flat(), config.vocabSize),
            `${name} [${chunks.join(',')}]`,
          ).toBeLessThan(1e-4);
        }
        for (const r of ranks) r.model.dispose();
      } finally {
        await opened.close();
      }
    });
  }
});
