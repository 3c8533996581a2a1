import { fileURLToPath } from 'node:url';

/** URL of the checkpoint folder (ends with `/`). */
export const brownModelUrl: URL = new URL('../model/', import.meta.url);

/**
 * Absolute path of the checkpoint folder, a Hugging Face DeepSeek-V2 model directory:
 * `config.json`, `model.safetensors` (bf16), `tokenizer.json`, `tokenizer_config.json`.
 */
export const brownModelDir: string = fileURLToPath(new URL('../model', import.meta.url));

/** The files of the checkpoint folder. */
export const BROWN_MODEL_FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
] as const;

/** The evaluation set (50 windows of 256 token ids), a copy of `tooling/eval/brown-heldout-windows.json`. */
export const brownEvalSetPath: string = fileURLToPath(
  new URL('../eval/brown-heldout-windows.json', import.meta.url),
);

/** Figures from transformers on the evaluation set, a copy of `tooling/eval/brown-heldout-reference.json`. */
export const brownEvalReferencePath: string = fileURLToPath(
  new URL('../eval/brown-heldout-reference.json', import.meta.url),
);

/** Unigram and bigram baselines on the evaluation set, a copy of `tooling/eval/brown-baselines.json`. */
export const brownBaselinesPath: string = fileURLToPath(
  new URL('../eval/brown-baselines.json', import.meta.url),
);
