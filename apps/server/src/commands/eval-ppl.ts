import {
  type BrownEvalSet,
  brownEvalSetPath,
  brownModelDir,
  compareWithReference,
  readBrownEvalReference,
  readBrownEvalSet,
  summarizeEval,
} from '@dcp/brown-model';
import { ConfigError } from '@dcp/config';
import { addEngineOptions, engineConfigFromOptions } from '@dcp/config/node';
import type { CreatedEngine } from '@dcp/engine/node';
import { type Command, CommanderError } from 'commander';
import type { CliIo } from '../io.js';
import { intOption } from './cli-values.js';
import { startEngine } from './engine-start.js';

/** Relative tolerance of the fp32 comparison with the transformers reference. */
export const REFERENCE_TOLERANCE = 1e-3;

/** Summed NLL (nats, float64) and correct-argmax count of one teacher-forced window. */
export interface WindowScore {
  nll: number;
  correct: number;
}

/**
 * Scores one window from its prompt logits: row `p` (the logits after `ids[0..p]`) predicts
 * `ids[p + 1]`; the NLL is `logsumexp(row) - row[next]` in float64, a hit is `argmax(row) = next`
 * (the first index on ties).
 */
export async function scoreWindow(
  created: CreatedEngine,
  ids: readonly number[],
  requestId: string,
): Promise<WindowScore> {
  let p = 0;
  let nll = 0;
  let correct = 0;
  for await (const d of created.llm.generate({
    requestId,
    promptTokenIds: [...ids],
    params: { maxTokens: 1, temperature: 0 },
    returnPromptLogits: true,
  })) {
    if (d.finishReason === 'error') throw new Error(`window ${requestId} failed: ${d.error}`);
    for (const row of d.promptLogits ?? []) {
      const next = ids[p + 1];
      p++;
      if (next === undefined) continue;
      let max = Number.NEGATIVE_INFINITY;
      let arg = 0;
      for (let k = 0; k < row.length; k++) {
        if ((row[k] as number) > max) {
          max = row[k] as number;
          arg = k;
        }
      }
      let sum = 0;
      for (let k = 0; k < row.length; k++) sum += Math.exp((row[k] as number) - max);
      nll += max + Math.log(sum) - (row[next] as number);
      if (arg === next) correct++;
    }
  }
  if (p < ids.length - 1) {
    throw new Error(`window ${requestId}: ${p} logit rows for ${ids.length} tokens`);
  }
  return { nll, correct };
}

function readWindows(path: string | undefined): BrownEvalSet {
  if (path === undefined) return readBrownEvalSet();
  try {
    return readBrownEvalSet(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new ConfigError(`--windows ${path}: ${why.replace(`${path}: `, '')}`, {
      field: 'windows',
      flag: '--windows',
    });
  }
}

/** The figures of one run, as `--json` prints them. */
export interface EvalPplResult {
  model: string;
  layout: { tp: number; pp: number; dcp: number };
  dtype: string;
  kvCacheDtype: string;
  windows: number;
  tokens: number;
  ppl: number;
  accuracy: number;
  correct: number;
  meanNll: number;
  seconds: number;
  perWindow: { doc: string; nll: number; correct: number }[];
  /** Against transformers' fp32 figures: only for the brown model on the whole default set. */
  reference: {
    ppl: number;
    accuracy: number;
    pplRelDiff: number;
    worstWindowRelDiff: number;
    tolerance: number;
    checked: boolean;
    ok: boolean;
  } | null;
}

/**
 * `dcp eval-ppl`: teacher-forced perplexity and next-token accuracy over evaluation windows (by
 * default the brown model's 50 held-out Brown windows), all windows in flight at once. On the brown
 * model, the whole default set and fp32 it also checks transformers' reference figures and fails
 * when they differ by more than 1e-3 relative.
 */
export function registerEvalPpl(program: Command, io: CliIo): Command {
  const command = program
    .command('eval-ppl')
    .description(
      'held-out perplexity and next-token accuracy over Brown evaluation windows (default model: brown)',
    )
    .option('--windows <path>', "evaluation set JSON (default: the brown model's held-out windows)")
    .option('--limit <n>', 'score only the first n windows')
    .option('--json', "print the figures (and each window's) as one JSON line");
  addEngineOptions(command).action(async (positional: string | undefined, opts: Record<string, unknown>) => {
    // The reference figures are fp32: evaluate in fp32 unless asked otherwise.
    opts.dtype ??= 'float32';
    opts.kvCacheDtype ??= 'auto';
    const config = engineConfigFromOptions(opts, {
      positionalModel: positional,
      onWarning: (w) => io.err(`warning: ${w}`),
    });
    const limit = intOption('--limit', opts.limit, 1);
    const set = readWindows(opts.windows as string | undefined);
    const windows = set.windows.slice(0, limit ?? set.windows.length);
    const json = Boolean(opts.json);
    const created = await startEngine(config, io, json);
    try {
      windows.forEach((w, i) => {
        if (w.ids.some((x) => !Number.isInteger(x) || x < 0 || x >= created.modelConfig.vocabSize)) {
          throw new ConfigError(
            `--windows: windows[${i}].ids must be integers in [0, ${created.modelConfig.vocabSize})`,
            { field: 'windows', flag: '--windows' },
          );
        }
        if (w.ids.length > created.maxModelLen) {
          throw new ConfigError(
            `--windows: windows[${i}] has ${w.ids.length} tokens, over --max-model-len ${created.maxModelLen}`,
            { field: 'windows', flag: '--windows' },
          );
        }
      });
      const t0 = performance.now();
      const scores = await Promise.all(windows.map((w, i) => scoreWindow(created, w.ids, `eval-${i}`)));
      const seconds = (performance.now() - t0) / 1000;
      const nll = scores.map((s) => s.nll);
      const correct = scores.map((s) => s.correct);
      const sum = summarizeEval(nll, correct, set.predictedPerWindow);
      const { tp, pp, dcp } = config.parallel;
      const fp32 =
        config.load.dtype === 'float32' && ['auto', 'fp32', 'float32'].includes(config.cache.kvCacheDtype);
      const result: EvalPplResult = {
        model: created.model.name,
        layout: { tp, pp, dcp },
        dtype: config.load.dtype,
        kvCacheDtype: config.cache.kvCacheDtype,
        windows: sum.windows,
        tokens: sum.predictedTokens,
        ppl: sum.ppl,
        accuracy: sum.accuracy,
        correct: sum.correct,
        meanNll: sum.meanNll,
        seconds,
        perWindow: windows.map((w, i) => ({
          doc: w.doc,
          nll: nll[i] as number,
          correct: correct[i] as number,
        })),
        reference: null,
      };
      if (created.model.dir === brownModelDir && isWholeDefaultSet(windows)) {
        const ref = readBrownEvalReference();
        const c = compareWithReference(nll, correct, ref, REFERENCE_TOLERANCE);
        result.reference = {
          ppl: ref.ppl,
          accuracy: ref.accuracy,
          pplRelDiff: c.pplRelDiff,
          worstWindowRelDiff: c.worstWindow.relDiff,
          tolerance: REFERENCE_TOLERANCE,
          checked: fp32,
          ok: c.ok,
        };
        if (fp32 && !c.ok) {
          printResult(io, result, json);
          const w = c.worstWindow;
          const msg = `error: perplexity differs from the transformers reference: ${sum.ppl} vs ${ref.ppl} (relative ${c.pplRelDiff.toExponential(2)}), ${c.mismatched.length} windows over ${REFERENCE_TOLERANCE} relative, worst ${w.doc} (window ${w.index}): NLL ${w.nll} vs ${w.reference}`;
          io.err(msg);
          throw new CommanderError(1, 'dcp.evalMismatch', msg);
        }
      }
      printResult(io, result, json);
    } finally {
      await created.llm.shutdown();
    }
  });
  return command;
}

/** True when `windows` are the whole default evaluation set (so the reference applies). */
function isWholeDefaultSet(windows: BrownEvalSet['windows']): boolean {
  const def = readBrownEvalSet(brownEvalSetPath).windows;
  return (
    windows.length === def.length &&
    windows.every((w, i) => {
      const d = def[i];
      return (
        d !== undefined &&
        w.doc === d.doc &&
        w.ids.length === d.ids.length &&
        w.ids.every((x, k) => x === d.ids[k])
      );
    })
  );
}

function printResult(io: CliIo, r: EvalPplResult, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(r));
    return;
  }
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  io.out(
    `model:      ${r.model} (tp ${r.layout.tp}, pp ${r.layout.pp}, dcp ${r.layout.dcp}; ${r.dtype}, KV ${r.kvCacheDtype})`,
  );
  io.out(`windows:    ${r.windows}`);
  io.out(`tokens:     ${r.tokens} scored predictions`);
  io.out(`perplexity: ${r.ppl.toFixed(4)} (mean NLL ${r.meanNll.toFixed(6)} nats)`);
  io.out(`accuracy:   ${pct(r.accuracy)} (${r.correct} / ${r.tokens})`);
  io.out(`time:       ${r.seconds.toFixed(1)} s (${Math.round(r.tokens / r.seconds)} tokens/s)`);
  const ref = r.reference;
  if (ref) {
    const verdict = !ref.checked
      ? 'not checked (the reference is fp32)'
      : ref.ok
        ? `ok (within ${ref.tolerance} relative, every window too)`
        : `MISMATCH (over ${ref.tolerance} relative)`;
    io.out(
      `reference:  transformers fp32 ppl ${ref.ppl.toFixed(4)}, accuracy ${pct(ref.accuracy)}; relative difference ${ref.pplRelDiff.toExponential(2)} (worst window ${ref.worstWindowRelDiff.toExponential(2)}): ${verdict}`,
    );
  }
}
