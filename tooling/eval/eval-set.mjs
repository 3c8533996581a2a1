// The evaluation set as a plain JSON object (written to brown-heldout-windows.json).
import { evalWindows, heldOutWindows, loadTokenizer, WINDOW } from './brown-tokens.mjs';

/** Builds the evaluation set object from the corpus and the tiny tokenizer. */
export function evalSetJson(tok = loadTokenizer()) {
  const windows = evalWindows(heldOutWindows(tok));
  return {
    description:
      'Brown held-out evaluation set: for each of the 50 held-out documents (every 10th in sorted order, see tooling/tokenizer/README.md), <|bos|> followed by the first 255 tokens of the document text (tiny tokenizer, no other special tokens). Score the 255 next-token predictions of each window (positions 1..255 given all tokens before), one forward pass per window from position 0.',
    tokenizer: 'packages/model/presets/tiny/tokenizer.json (vocab 2048)',
    window: WINDOW,
    predictedPerWindow: WINDOW - 1,
    windows: windows.map((w) => ({ doc: w.doc, ids: w.ids })),
  };
}
