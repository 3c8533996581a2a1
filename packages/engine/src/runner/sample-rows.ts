import type { StepOutput, StepSampling } from '../executor/protocol.js';
import { sampleToken } from '../sampling/sampler.js';
import type { RankBatch } from './batch-builder.js';

/**
 * The logits rows a step needs: every row of teacher-forced requests, the last row of requests
 * that sample. Never empty (the last row stands in when nothing needs logits).
 */
export function logitRowsFor(batch: RankBatch, sampling: Readonly<Record<string, StepSampling>>): number[] {
  const rows: number[] = [];
  let start = 0;
  for (const r of batch.requests) {
    const s = sampling[r.requestId];
    if (s?.returnLogits) for (let k = 0; k < r.queryLen; k++) rows.push(start + k);
    else if (s?.sample) rows.push(start + r.queryLen - 1);
    start += r.queryLen;
  }
  if (rows.length === 0) rows.push(start - 1);
  return rows;
}

/**
 * Turns downloaded logits (`[rows.length, vocab]`, rows as `logitRowsFor` chose them) into the
 * step's outputs: sampled tokens with log-probabilities, and logits rows where asked.
 */
export function sampleOutputs(
  batch: RankBatch,
  sampling: Readonly<Record<string, StepSampling>>,
  rows: readonly number[],
  logits: Float32Array,
  vocab: number,
): StepOutput {
  const rowIndex = new Map(rows.map((r, i) => [r, i]));
  const rowOf = (r: number) => logits.subarray(rowIndex.get(r)! * vocab, (rowIndex.get(r)! + 1) * vocab);
  const outputs: StepOutput['outputs'] = {};
  let start = 0;
  for (const r of batch.requests) {
    const s = sampling[r.requestId];
    const last = start + r.queryLen - 1;
    if (s) {
      const o: StepOutput['outputs'][string] = {};
      if (s.returnLogits) {
        o.logits = [];
        for (let k = 0; k < r.queryLen; k++) o.logits.push(rowOf(start + k).slice());
      }
      if (s.sample) {
        const t = sampleToken(rowOf(last), s.params, s.seed, s.outputIndex);
        o.tokenId = t.tokenId;
        o.logprob = t.logprob;
        o.topLogprobs = t.topLogprobs;
      }
      outputs[r.requestId] = o;
    }
    start += r.queryLen;
  }
  return { outputs };
}
