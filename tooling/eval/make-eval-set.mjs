#!/usr/bin/env node
// Writes tooling/eval/brown-heldout-windows.json: the fixed evaluation set of the brown model
// (the first 256-token window, <|bos|> first, of each of the 50 held-out Brown documents).
// Usage: node tooling/eval/make-eval-set.mjs [--check]   (--check: fail if the committed file differs)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evalSetJson } from './eval-set.mjs';

const file = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  'brown-heldout-windows.json',
);
const text = `${JSON.stringify(evalSetJson())}\n`;
if (process.argv.includes('--check')) {
  if (readFileSync(file, 'utf8') !== text) throw new Error(`${file} differs from a fresh tokenization`);
  console.log(`${file} matches`);
} else {
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
}
