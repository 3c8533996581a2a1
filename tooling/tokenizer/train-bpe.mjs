#!/usr/bin/env node
// Trains the tiny preset's byte-level BPE tokenizer on the Brown corpus training split and writes
// tokenizer.json and tokenizer_config.json. Usage:
//   node tooling/tokenizer/train-bpe.mjs [--out DIR] [--vocab-size 2048]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countPretokens, SPECIAL_TOKENS, tokenizerConfig, tokenizerJson, trainBpe } from './bpe.mjs';
import { brownSplit, brownText } from './brown.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const out = arg('--out', join(root, 'packages/model/presets/tiny'));
const vocabSize = Number(arg('--vocab-size', '2048'));
const numMerges = vocabSize - SPECIAL_TOKENS.length - 256;
if (!Number.isInteger(numMerges) || numMerges < 0) throw new Error(`--vocab-size ${vocabSize} is too small`);

const t0 = performance.now();
const { train } = brownSplit();
const counts = new Map();
let chars = 0;
for (const id of train) {
  const text = brownText(id);
  chars += text.length;
  countPretokens(`${text}\n`, counts);
}
const t1 = performance.now();
const model = trainBpe(counts, numMerges);
const t2 = performance.now();
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'tokenizer.json'), `${JSON.stringify(tokenizerJson(model), null, 1)}\n`);
writeFileSync(join(out, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig(), null, 2)}\n`);
console.log(
  `${train.length} documents, ${chars} characters, ${counts.size} distinct pre-tokens (${((t1 - t0) / 1000).toFixed(1)} s); ` +
    `${numMerges} merges in ${((t2 - t1) / 1000).toFixed(1)} s; vocab ${vocabSize} → ${out}`,
);
