// The browser test's page script (bundled with esbuild, as an application's bundler would):
// `window.dcpRun(args)` starts the web engine on rank Web Workers, generates greedily, shuts down.
import { createWebEngine } from '../../dist/web/index.js';
import { testConfig } from './config.js';

/** What the test asks the page to run. */
export interface PageArgs {
  model: string;
  tp: number;
  dcp: number;
  backend: string;
  prompt: string;
  maxTokens: number;
}

/** What the page reports back. */
export interface PageResult {
  isolated: boolean;
  promptIds: number[];
  tokens: number[];
  text: string;
  finishReason: string | null;
  rankInfo: Record<string, unknown>[];
  workers: { count: number; allWebWorkers: boolean };
  kv: { numBlocks: number; tokenCapacity: number };
  log: string[];
  /** Milliseconds: engine start (workers ready), prefill (first token), each later token, shutdown. */
  ms: { start: number; firstToken: number; perToken: number; shutdown: number };
  error?: string;
}

async function run(a: PageArgs): Promise<PageResult> {
  const log: string[] = [];
  const t0 = performance.now();
  const config = testConfig({ model: a.model, tp: a.tp, dcp: a.dcp, backend: a.backend });
  const e = await createWebEngine(config, {
    workerUrl: new URL('/rank-worker.js', location.href),
    allowSoftwareGpu: true,
    log: (l) => log.push(l),
  });
  const t1 = performance.now();
  let tFirst = 0;
  let tLast = 0;
  let result: Omit<PageResult, 'ms'>;
  try {
    const promptIds = e.tokenizer!.encode(a.prompt);
    const tokens: number[] = [];
    let text = '';
    let finishReason: string | null = null;
    for await (const d of e.llm.generate({
      requestId: 'page',
      promptTokenIds: promptIds,
      params: { maxTokens: a.maxTokens, temperature: 0, ignoreEos: true },
    })) {
      if (d.finishReason === 'error') throw new Error(d.error);
      if (tokens.length === 0) tFirst = performance.now();
      tLast = performance.now();
      tokens.push(...d.newTokenIds);
      text += d.newText;
      finishReason = d.finishReason;
    }
    result = {
      isolated: crossOriginIsolated,
      promptIds,
      tokens,
      text,
      finishReason,
      rankInfo: [...e.rankInfo],
      workers: {
        count: e.executor.workers.length,
        allWebWorkers: e.executor.workers.every((w) => w instanceof Worker),
      },
      kv: { numBlocks: e.kv.numBlocks, tokenCapacity: e.kv.tokenCapacity },
      log,
    };
  } finally {
    await e.llm.shutdown();
  }
  const ms = {
    start: t1 - t0,
    firstToken: tFirst - t1,
    perToken: (tLast - tFirst) / Math.max(1, a.maxTokens - 1),
    shutdown: performance.now() - tLast,
  };
  return { ...result, ms };
}

(globalThis as unknown as { dcpRun: (a: PageArgs) => Promise<PageResult | { error: string }> }).dcpRun = (
  a,
) => run(a).catch((err: Error) => ({ error: `${err.name}: ${err.message}\n${err.stack ?? ''}` }));
