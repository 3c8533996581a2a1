#!/usr/bin/env node
// Unigram and bigram baselines on the fixed evaluation set, trained on the training split with the
// same tokenizer. Writes tooling/eval/brown-baselines.json. Usage: node tooling/eval/baselines.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BOS, brownSplit, docIds, EOS, loadTokenizer, VOCAB_SIZE } from './brown-tokens.mjs';
import { bigramLogProb, scoreWindows, trainBigram, trainUnigram, unigramLogProb } from './ngram.mjs';

const here = import.meta.dirname;

/** The baselines JSON object: both models trained on the training documents, scored on the evaluation set. */
export function computeBaselines() {
  const evalSet = JSON.parse(readFileSync(join(here, 'brown-heldout-windows.json'), 'utf8'));
  const windows = evalSet.windows.map((w) => w.ids);
  const tok = loadTokenizer();
  const docs = brownSplit().train.map((id) => [BOS, ...docIds(tok, id), EOS]);
  const uni = trainUnigram(docs, VOCAB_SIZE, 1);
  const bi = trainBigram(docs, VOCAB_SIZE);
  const u = scoreWindows(uni, unigramLogProb, windows);
  const b = scoreWindows(bi, bigramLogProb, windows);
  const round = (x) => Number(x.toPrecision(9));
  const row = (s) => ({
    ppl: round(s.ppl),
    meanNll: round(s.meanNll),
    accuracy: round(s.accuracy),
    perWindowNll: s.nll.map(round),
  });
  return {
    evalSet: 'tooling/eval/brown-heldout-windows.json',
    windows: u.windows,
    predictedTokens: u.predictedTokens,
    training: `the ${docs.length} training documents as <|bos|> ids <|eos|> (${docs.reduce((a, d) => a + d.length, 0)} tokens, tiny tokenizer)`,
    unigram: { smoothing: 'add-1 over the 2048 ids', ...row(u) },
    bigram: {
      smoothing: `interpolated Kneser-Ney, D = ${round(bi.D)}, continuation D1 = ${round(bi.D1)}, uniform floor`,
      ...row(b),
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  const out = computeBaselines();
  writeFileSync(join(here, 'brown-baselines.json'), `${JSON.stringify(out, null, 1)}\n`);
  console.log(
    `${((performance.now() - t0) / 1000).toFixed(1)} s: unigram ppl ${out.unigram.ppl} acc ${out.unigram.accuracy}; ` +
      `bigram ppl ${out.bigram.ppl} acc ${out.bigram.accuracy} (${out.windows} windows, ${out.predictedTokens} tokens)`,
  );
}
