/**
 * The engine in a browser: a page served on 127.0.0.1 with the cross-origin isolation headers
 * runs `@dcp/engine/web` in headless Chromium (`--enable-unsafe-webgpu`, SwiftShader): one
 * dedicated Web Worker per rank, each on a WebGPU device it requested itself (`webgpu-mla`),
 * the brown model's safetensors fetched by each rank over HTTP Range requests, the scheduler and
 * tokenizer on the page. Its greedy tokens at tp1 and tp2·dcp2 must equal the Node engine's
 * (`cpu-mla` on worker threads) up to the first near tie. The page and worker scripts are bundled
 * from the built `dist/` with esbuild, as an application's bundler would.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultEngineConfig } from '@dcp/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROMPT, testConfig } from './web/config.js';
import type { PageArgs, PageResult } from './web/page.js';
import { type Served, serveSite } from './web/serve.js';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const brownDir = join(pkg, '..', 'brown-model', 'model');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const NEW_TOKENS = 8;
/**
 * Per layout. SwiftShader compiles every WGSL pipeline on first use and runs the kernels on the
 * CPU: most of the time goes there, not to the engine (a quiet 2-core box takes tens of seconds
 * per layout; a loaded one several times that).
 */
const STEP_BUDGET_MS = 600_000;
const LAYOUTS = [
  { tp: 1, dcp: 1 },
  { tp: 2, dcp: 2 },
] as const;

function skipReason(): string | null {
  const missing = [
    existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium)`,
    existsSync(join(pkg, 'dist/web/index.js')) ? null : '@dcp/engine is not built (dist/web/index.js)',
    existsSync(join(pkg, '../webgpu-mla/dist/index.js'))
      ? null
      : '@dcp/webgpu-mla is not built (dist/index.js)',
    existsSync(join(brownDir, 'model.safetensors')) ? null : `no brown checkpoint in ${brownDir}`,
  ].filter((x) => x !== null);
  if (missing.length === 0) return null;
  const reason = missing.join('; ');
  if (process.env.DCP_REQUIRE_SYSTEM_TOOLS === '1') throw new Error(`DCP_REQUIRE_SYSTEM_TOOLS=1: ${reason}`);
  console.warn(`[engine] skipping the browser test: ${reason}`);
  return reason;
}

async function bundle(): Promise<Record<string, string>> {
  const { build } = await import('esbuild');
  const out: Record<string, string> = {};
  for (const [path, entry] of [
    ['/page.js', 'web/page.ts'],
    ['/rank-worker.js', 'web/rank-worker.ts'],
  ] as const) {
    const r = await build({
      entryPoints: [join(here, entry)],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'chrome120',
      logLevel: 'error',
    });
    out[path] = r.outputFiles[0]!.text;
  }
  return out;
}

interface NodeRun {
  promptIds: number[];
  tokens: number[];
  /** Top-2 logprob gap of every generated step. */
  gaps: number[];
  top2: number[][];
  text: string;
}

/** The same request on the Node engine (worker threads, cpu-mla). */
async function nodeRun(l: { tp: number; dcp: number }): Promise<NodeRun> {
  const { createEngine } = await import('../dist/node.js');
  const c = testConfig({ model: 'brown', tp: l.tp, dcp: l.dcp, backend: 'cpu-mla' });
  const e = await createEngine(c, { log: () => {} });
  try {
    const promptIds = e.tokenizer!.encode(PROMPT);
    const run: NodeRun = { promptIds, tokens: [], gaps: [], top2: [], text: '' };
    for await (const d of e.llm.generate({
      requestId: 'node',
      promptTokenIds: promptIds,
      params: { maxTokens: NEW_TOKENS, temperature: 0, logprobs: 2, ignoreEos: true },
    })) {
      if (d.finishReason === 'error') throw new Error(d.error);
      run.tokens.push(...d.newTokenIds);
      run.text += d.newText;
      for (const lp of d.logprobs ?? []) {
        run.gaps.push(lp.top[0]!.logprob - lp.top[1]!.logprob);
        run.top2.push([lp.top[0]!.tokenId, lp.top[1]!.tokenId]);
      }
    }
    return run;
  } finally {
    await e.llm.shutdown();
  }
}

const reason = skipReason();

describe.skipIf(reason !== null)('the engine in headless Chromium (Web Workers, WebGPU)', () => {
  let site: Served | undefined;
  let browser: import('playwright-core').Browser | undefined;
  beforeAll(async () => {
    const html = (title: string) =>
      `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="/page.js"></script>`;
    const scripts = await bundle();
    site = await serveSite({
      pages: {
        '/': { html: html('dcp web engine'), isolated: true },
        '/plain': { html: html('no isolation'), isolated: false },
      },
      scripts,
      folders: { '/models/brown/': brownDir },
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-dev-shm-usage'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  async function pageRun(path: string, a: PageArgs): Promise<PageResult> {
    const page = await browser!.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    try {
      await page.goto(`${site!.base}${path}`);
      await page.waitForFunction(() => 'dcpRun' in globalThis);
      const r = await page.evaluate(
        (args) => (globalThis as never as { dcpRun(x: unknown): Promise<PageResult> }).dcpRun(args),
        a,
      );
      if (r.error) r.log = [...(r.log ?? []), ...logs];
      return r;
    } finally {
      await page.close();
    }
  }

  const args = (l: { tp: number; dcp: number }): PageArgs => ({
    model: '/models/brown/',
    tp: l.tp,
    dcp: l.dcp,
    backend: 'webgpu-mla',
    prompt: PROMPT,
    maxTokens: NEW_TOKENS,
  });

  it("the README example (examples/web) runs as documented: two rank workers, the Node engine's text", async () => {
    // examples/web/main.js's settings, on the Node engine.
    const c = defaultEngineConfig();
    c.model = 'brown';
    c.parallel.tp = 2;
    c.parallel.dcp = 2;
    c.attentionBackend = 'cpu-mla';
    c.cache.kvCacheMemoryBytes = 16 * 2 ** 20;
    const { createEngine } = await import('../dist/node.js');
    const node = await createEngine(c, { log: () => {} });
    let want = 'The jury said';
    try {
      for await (const d of node.llm.generate({
        requestId: 'n',
        promptTokenIds: node.tokenizer!.encode(want),
        params: { maxTokens: 10, temperature: 0 },
      }))
        want += d.newText;
    } finally {
      await node.llm.shutdown();
    }
    const server = spawn(process.execPath, [join(pkg, 'examples/web/serve.mjs')], {
      env: { ...process.env, PORT: '0' },
    });
    try {
      const url = await new Promise<string>((ok, fail) => {
        server.stdout.on('data', (b) => {
          const m = /(http:\/\/\S+)/.exec(String(b));
          if (m) ok(m[1]!);
        });
        server.on('exit', (code) => fail(new Error(`examples/web/serve.mjs exited (${code})`)));
      });
      const page = await browser!.newPage();
      await page.goto(`${url}?backend=cpu-mla&tokens=10`);
      await page.waitForFunction(() => document.title === 'done', null, { timeout: 120_000 });
      const shown = (await page.textContent('#out')) ?? '';
      await page.close();
      expect(shown).toContain("rank 1: cpu-mla in DedicatedWorkerGlobalScope 'dcp-rank-1'");
      expect(shown).toContain(want);
    } finally {
      server.kill();
    }
  });

  it('refuses to start on a page without cross-origin isolation, saying which headers to send', async () => {
    const r = await pageRun('/plain', args(LAYOUTS[0]));
    expect(r.error).toMatch(
      /CrossOriginIsolationError: crossOriginIsolated is false: serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/,
    );
  });

  for (const l of LAYOUTS) {
    it(
      `tp${l.tp}·dcp${l.dcp}: the brown model in ${l.tp} Web Worker(s) gives the Node engine's greedy tokens`,
      async () => {
        const ref = await nodeRun(l);
        site!.ranges.length = 0;
        const r = await pageRun('/', args(l));
        expect(r.error, r.log?.join('\n')).toBeUndefined();
        expect(r.isolated).toBe(true);
        // The ranks are dedicated Web Workers, each with a WebGPU device it requested itself.
        expect(r.workers).toEqual({ count: l.tp, allWebWorkers: true });
        r.rankInfo.forEach((info, rank) => {
          expect(info.scope).toBe('DedicatedWorkerGlobalScope');
          expect(info.workerName).toBe(`dcp-rank-${rank}`);
          expect(info.backend).toBe('webgpu-mla');
          expect(info.adapter).toMatchObject({ architecture: expect.any(String) });
          // Real weights, fetched by the rank over HTTP: with tp2 only its slices of most tensors.
          expect(info.weights).toMatch(/\/models\/brown\/ \(\d+ bytes fetched\)/);
          const fetched = Number(/\((\d+) bytes/.exec(String(info.weights))![1]);
          const file = statSync(join(brownDir, 'model.safetensors')).size;
          if (l.tp === 1) expect(fetched).toBeGreaterThanOrEqual(file - 16_384);
          else expect(fetched).toBeLessThan(0.75 * file);
        });
        expect(site!.ranges.some((x) => x.startsWith('/models/brown/model.safetensors '))).toBe(true);
        console.log(
          `[engine/web] tp${l.tp}·dcp${l.dcp} adapter ${JSON.stringify((r.rankInfo[0]!.adapter as { architecture: string }).architecture)}: page ${r.tokens.join(' ')} | node ${ref.tokens.join(' ')}; page ms ${JSON.stringify(r.ms)}`,
        );
        // The page's tokenizer reads the same prompt ids as Node's.
        expect(r.promptIds).toEqual(ref.promptIds);
        expect(r.promptIds.length).toBeGreaterThanOrEqual(24);
        expect(r.tokens.length).toBe(NEW_TOKENS);
        expect(r.finishReason).toBe('length');
        // The engine's near-tie rule: equal up to the first step whose reference top-2 gap is
        // below 1e-4; at that step either of the two tied tokens is right; after it, runs may part.
        const tie = ref.gaps.findIndex((g) => g < 1e-4);
        const upto = tie < 0 ? NEW_TOKENS : tie;
        expect(r.tokens.slice(0, upto)).toEqual(ref.tokens.slice(0, upto));
        if (tie >= 0) expect(ref.top2[tie]).toContain(r.tokens[tie]);
        else expect(r.text).toBe(ref.text);
      },
      STEP_BUDGET_MS,
    );
  }
});
