#!/usr/bin/env node
// Tokenizes the Brown corpus with the tiny tokenizer into the compact uint16 files that the GPU
// training run (train.py) reads. Usage: node tooling/train/prepare-data.mjs [--out .device-train]
//   train.u16  every training document as <|bos|> ids <|eos|>, concatenated (450 documents)
//   chat.u16   chat-formatted samples made from the training documents (see chatSamples)
//   dev.u16    held-out windows 2.. of each held-out document (256 tokens each), for the loss curve
//   meta.json  counts
// The evaluation windows themselves are read by train.py from tooling/eval/brown-heldout-windows.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ASSISTANT,
  BOS,
  brownSplit,
  brownText,
  EOS,
  encode,
  heldOutWindows,
  loadTokenizer,
  ROOT,
  USER,
} from '@dcp/eval-tools/brown-tokens.mjs';

const args = process.argv.slice(2);
const i = args.indexOf('--out');
const out = i >= 0 && args[i + 1] ? args[i + 1] : join(ROOT, '.device-train');

/**
 * Chat samples from one document's sentences: `<|bos|>` then up to two exchanges
 * `<|user|> s_i <|eos|> <|assistant|> s_i+1 [s_i+2] <|eos|>` (the assistant continues the text with one
 * or two sentences, alternately), so the model learns the chat template's turn structure and to end
 * its turn with <|eos|>.
 */
export function chatSamples(tok, lines) {
  const samples = [];
  let cur = [BOS];
  let turns = 0;
  let k = 0;
  for (let s = 0; s + 1 < lines.length; ) {
    const take = 1 + (k++ % 2);
    const reply = lines.slice(s + 1, s + 1 + take).join(' ');
    cur.push(USER, ...encode(tok, lines[s]), EOS, ASSISTANT, ...encode(tok, reply), EOS);
    s += 1 + take;
    if (++turns === 2) {
      samples.push(cur);
      cur = [BOS];
      turns = 0;
    }
  }
  if (turns > 0) samples.push(cur);
  return samples;
}

function u16(arrays) {
  const n = arrays.reduce((a, b) => a + b.length, 0);
  const buf = new Uint16Array(n);
  let o = 0;
  for (const a of arrays) {
    buf.set(a, o);
    o += a.length;
  }
  return Buffer.from(buf.buffer);
}

const t0 = performance.now();
const tok = loadTokenizer();
const { train } = brownSplit();
const trainDocs = [];
const chat = [];
for (const id of train) {
  const text = brownText(id);
  trainDocs.push([BOS, ...encode(tok, text), EOS]);
  chat.push(...chatSamples(tok, text.split('\n')));
}
const dev = heldOutWindows(tok).filter((w) => w.index > 0);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'train.u16'), u16(trainDocs));
writeFileSync(join(out, 'chat.u16'), u16(chat));
writeFileSync(join(out, 'dev.u16'), u16(dev.map((w) => w.ids)));
const meta = {
  trainDocuments: trainDocs.length,
  trainTokens: trainDocs.reduce((a, d) => a + d.length, 0),
  chatSamples: chat.length,
  chatTokens: chat.reduce((a, d) => a + d.length, 0),
  devWindows: dev.length,
  devTokens: dev.length * 256,
};
writeFileSync(join(out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
console.log(JSON.stringify(meta), `${((performance.now() - t0) / 1000).toFixed(1)} s → ${out}`);
