import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { defaultEngineConfig, type EngineConfig } from '@dcp/config';
// Worker threads load built JavaScript, so these tests drive the built engine.
import { type CreatedEngine, createEngine } from '../dist/node.js';
import { greedyWithGaps } from '../dist/testing/index.js';

export { greedyWithGaps };

/** A reference fixture made with Hugging Face transformers (packages/model/fixtures). */
export interface Fixture {
  dir: string;
  cases: { prompt_token_ids: number[]; logits: number[][] }[];
}

export function fixture(name: string): Fixture {
  const dir = join(createRequire(import.meta.url).resolve('@dcp/model/package.json'), '..', 'fixtures', name);
  return { dir, cases: JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')).cases };
}

/** A layout and the engine settings of one run. */
export interface Layout {
  tp: number;
  pp: number;
  dcp: number;
  interleave?: number;
  comm?: 'ag_rs' | 'a2a';
}

export const label = (l: Layout) =>
  `tp${l.tp}·pp${l.pp}·dcp${l.dcp}${l.interleave ? ` I${l.interleave}` : ''}${l.comm === 'a2a' ? ' a2a' : ''}`;

/** An fp32 engine over `model` in layout `l`, small blocks and a small budget (chunked prefill). */
export async function startFp32(
  model: string,
  l: Layout,
  over: (c: EngineConfig) => void = () => {},
): Promise<CreatedEngine> {
  const c = defaultEngineConfig();
  c.model = model;
  c.parallel = {
    tp: l.tp,
    pp: l.pp,
    dcp: l.dcp,
    cpKvCacheInterleaveSize: l.interleave ?? 1,
    dcpCommBackend: l.comm ?? 'ag_rs',
  };
  c.load.dtype = 'float32';
  c.cache.kvCacheDtype = 'fp32';
  c.cache.blockSize = 4;
  c.cache.numGpuBlocksOverride = 96;
  c.scheduler.maxNumBatchedTokens = 16;
  c.scheduler.maxNumSeqs = 8;
  over(c);
  return createEngine(c, { log: () => {} });
}

/** Teacher-forced logits of every position of each prompt, run concurrently. */
export async function promptLogits(
  e: CreatedEngine,
  prompts: number[][],
  tag = 'p',
): Promise<Float32Array[][]> {
  return Promise.all(
    prompts.map(async (p, i) => {
      const rows: Float32Array[] = [];
      for await (const d of e.llm.generate({
        requestId: `${tag}${i}`,
        promptTokenIds: p,
        params: { maxTokens: 1, temperature: 0 },
        returnPromptLogits: true,
      })) {
        if (d.finishReason === 'error') throw new Error(d.error);
        rows.push(...(d.promptLogits ?? []));
      }
      return rows;
    }),
  );
}

/** The issue's metric: per position, max |Δ| / max |ref|; returns the worst over all positions. */
export function worstRelErr(got: ArrayLike<number>[], ref: ArrayLike<number>[]): number {
  if (got.length !== ref.length) throw new Error(`${got.length} rows, expected ${ref.length}`);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (g.length !== r.length) throw new Error(`row ${i}: ${g.length} logits, expected ${r.length}`);
    let d = 0;
    let m = 0;
    for (let k = 0; k < r.length; k++) {
      d = Math.max(d, Math.abs(g[k]! - r[k]!));
      m = Math.max(m, Math.abs(r[k]!));
    }
    worst = Math.max(worst, d / m);
  }
  return worst;
}

/** Greedy tokens of one prompt. */
export async function greedy(
  e: CreatedEngine,
  prompt: number[],
  maxTokens: number,
  id = 'g',
): Promise<number[]> {
  return (await greedyWithGaps(e.llm, prompt, maxTokens, id)).tokens;
}
