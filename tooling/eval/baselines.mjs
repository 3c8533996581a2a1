#!/usr/bin/env node
// Unigram and bigram baselines on the fixed evaluation set, trained on the training split with the
// same tokenizer. Writes tooling/eval/brown-baselines.json. Usage: node tooling/eval/baselines.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOS, brownSplit, docIds, EOS, loadTokenizer, VOCAB_SIZE } from './brown-tokens.mjs';
import { bigramLogProb, scoreWindows, trainBigram, trainUnigram, unigramLogProb } from './ngram.mjs';

const here = import.meta.dirname;
const evalSet = JSON.parse(readFileSync(join(here, 'brown-heldout-windows.json'), 'utf8'));
const windows = evalSet.windows.map((w) => w.ids);
const t0 = performance.now();
const tok = loadTokenizer();
const docs = brownSplit().train.map((id) => [BOS, ...docIds(tok, id), EOS]);
const t1 = performance.now();
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
const out = {
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
writeFileSync(join(here, 'brown-baselines.json'), `${JSON.stringify(out, null, 1)}\n`);
console.log(
  `tokenized in ${((t1 - t0) / 1000).toFixed(1)} s; unigram ppl ${u.ppl.toFixed(2)} acc ${(100 * u.accuracy).toFixed(2)}%; ` +
    `bigram ppl ${b.ppl.toFixed(2)} acc ${(100 * b.accuracy).toFixed(2)}% (${u.windows} windows, ${u.predictedTokens} tokens)`,
);
