import { readFileSync } from 'node:fs';
import { brownBaselinesPath, brownEvalReferencePath, brownEvalSetPath } from './paths.js';

/** One evaluation window: `ids[0]` is `<|bos|>`; the predictions of `ids[1..]` are scored. */
export interface BrownEvalWindow {
  /** Brown document id (`ca10`, …). */
  doc: string;
  ids: number[];
}

/** The fixed evaluation set (`eval/brown-heldout-windows.json`). */
export interface BrownEvalSet {
  description: string;
  tokenizer: string;
  /** Tokens per window, `<|bos|>` included (256). */
  window: number;
  /** Scored predictions per window (255). */
  predictedPerWindow: number;
  windows: BrownEvalWindow[];
}

/** Figures of transformers (fp32) on the evaluation set (`eval/brown-heldout-reference.json`). */
export interface BrownEvalReference {
  transformers: string;
  torch: string;
  computation: string;
  windows: number;
  predicted_tokens: number;
  mean_nll: number;
  ppl: number;
  accuracy: number;
  correct: number;
  /** Summed NLL (nats) and correct argmax count of each window, in evaluation-set order. */
  per_window: { doc: string; nll: number; correct: number }[];
  /** The same in float64 on the CPU (transformers still applies RoPE in float32 there). */
  fp64_cpu_check: {
    ppl: number;
    accuracy: number;
    max_rel_window_nll_diff: number;
    per_window_nll: number[];
  };
  all_held_out_windows: { windows: number; predicted_tokens: number; ppl: number; accuracy: number };
}

/** One n-gram baseline's figures. */
export interface BrownBaselineFigures {
  smoothing: string;
  ppl: number;
  meanNll: number;
  accuracy: number;
  perWindowNll: number[];
}

/** Unigram and bigram baselines on the evaluation set (`eval/brown-baselines.json`). */
export interface BrownBaselines {
  windows: number;
  predictedTokens: number;
  training: string;
  unigram: BrownBaselineFigures;
  bigram: BrownBaselineFigures;
}

/** Perplexity, accuracy and mean NLL of per-window summed NLLs and correct counts. */
export interface EvalSummary {
  windows: number;
  predictedTokens: number;
  meanNll: number;
  ppl: number;
  accuracy: number;
  correct: number;
}

function readJson(path: string): Record<string, unknown> {
  const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads and checks the evaluation set: every window `window` ids long, `<|bos|>` (0) first. */
export function readBrownEvalSet(path: string = brownEvalSetPath): BrownEvalSet {
  const raw = readJson(path);
  const { window, predictedPerWindow, windows } = raw;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 2) {
    throw new Error(`${path}: "window" must be an integer >= 2, got ${String(window)}`);
  }
  if (predictedPerWindow !== window - 1) {
    throw new Error(`${path}: "predictedPerWindow" must be window - 1 = ${window - 1}`);
  }
  if (!Array.isArray(windows) || windows.length === 0)
    throw new Error(`${path}: "windows" must be a non-empty array`);
  windows.forEach((w: { doc?: unknown; ids?: unknown }, i) => {
    if (typeof w?.doc !== 'string') throw new Error(`${path}: "windows[${i}].doc" must be a string`);
    const ids = w.ids;
    if (!Array.isArray(ids) || ids.length !== window || ids[0] !== 0) {
      throw new Error(`${path}: "windows[${i}].ids" must be ${window} token ids starting with <|bos|> (0)`);
    }
  });
  return raw as unknown as BrownEvalSet;
}

/** Reads the transformers reference figures; `per_window` must have one entry per window. */
export function readBrownEvalReference(path: string = brownEvalReferencePath): BrownEvalReference {
  const raw = readJson(path);
  if (!Array.isArray(raw.per_window) || raw.per_window.length !== raw.windows) {
    throw new Error(`${path}: "per_window" must have "windows" (${String(raw.windows)}) entries`);
  }
  return raw as unknown as BrownEvalReference;
}

/** Reads the unigram/bigram baseline figures. */
export function readBrownBaselines(path: string = brownBaselinesPath): BrownBaselines {
  const raw = readJson(path);
  for (const k of ['unigram', 'bigram'] as const) {
    const row = raw[k] as { ppl?: unknown } | undefined;
    if (typeof row?.ppl !== 'number') throw new Error(`${path}: "${k}.ppl" must be a number`);
  }
  return raw as unknown as BrownBaselines;
}

/**
 * Sums per-window NLLs (nats) and correct counts into perplexity = exp(total NLL / predictions) and
 * accuracy = correct / predictions, with `predictedPerWindow` predictions in every window.
 */
export function summarizeEval(
  nll: readonly number[],
  correct: readonly number[],
  predictedPerWindow: number,
): EvalSummary {
  if (nll.length === 0) throw new Error('nll: no windows');
  if (correct.length !== nll.length) {
    throw new Error(`correct: ${correct.length} entries for ${nll.length} windows in nll`);
  }
  if (!Number.isInteger(predictedPerWindow) || predictedPerWindow < 1) {
    throw new Error(`predictedPerWindow: must be a positive integer, got ${predictedPerWindow}`);
  }
  nll.forEach((v, i) => {
    if (!Number.isFinite(v) || v < 0)
      throw new Error(`nll[${i}]: must be a finite non-negative number, got ${v}`);
  });
  const predictedTokens = nll.length * predictedPerWindow;
  const total = nll.reduce((a, b) => a + b, 0);
  const hits = correct.reduce((a, b) => a + b, 0);
  return {
    windows: nll.length,
    predictedTokens,
    meanNll: total / predictedTokens,
    ppl: Math.exp(total / predictedTokens),
    accuracy: hits / predictedTokens,
    correct: hits,
  };
}

/** How one run's figures compare with the transformers reference. */
export interface EvalComparison {
  /** Perplexity within `tolerance` relative and every window's NLL too. */
  ok: boolean;
  pplRelDiff: number;
  accuracyDiff: number;
  /** The window whose summed NLL differs most (relative), to localise a mismatch. */
  worstWindow: { index: number; doc: string; nll: number; reference: number; relDiff: number };
  /** Indices of the windows whose NLL differs by more than `tolerance` relative. */
  mismatched: number[];
}

/** Compares per-window NLLs and correct counts (evaluation-set order) with the reference figures. */
export function compareWithReference(
  nll: readonly number[],
  correct: readonly number[],
  reference: BrownEvalReference,
  tolerance = 1e-3,
): EvalComparison {
  if (nll.length !== reference.per_window.length) {
    throw new Error(`nll: ${nll.length} windows, the reference has ${reference.per_window.length}`);
  }
  const ours = summarizeEval(nll, correct, reference.predicted_tokens / reference.windows);
  const mismatched: number[] = [];
  let worst = { index: 0, doc: '', nll: 0, reference: 0, relDiff: -1 };
  reference.per_window.forEach((r, i) => {
    const v = nll[i] as number;
    const relDiff = Math.abs(v - r.nll) / Math.abs(r.nll);
    if (!(relDiff <= tolerance)) mismatched.push(i);
    if (!(relDiff <= worst.relDiff)) worst = { index: i, doc: r.doc, nll: v, reference: r.nll, relDiff };
  });
  const pplRelDiff = Math.abs(ours.ppl - reference.ppl) / reference.ppl;
  return {
    ok: pplRelDiff <= tolerance && mismatched.length === 0,
    pplRelDiff,
    accuracyDiff: ours.accuracy - reference.accuracy,
    worstWindow: worst,
    mismatched,
  };
}
