/**
 * The browser run: a page on 127.0.0.1 (served with the cross-origin isolation headers that
 * SharedArrayBuffer needs) runs `test/probe.mjs` (conformance subset, one decode, the `tiny` preset
 * generating greedily at dcp 1 and 2) in headless Chromium (`--enable-unsafe-webgpu`,
 * SwiftShader), and its results must equal the same probe run here on Dawn. Uses the built
 * `dist/` of the workspace packages through an import map.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, runConformance } from '@dcp/backend/testing';
import { parseHfModelConfig } from '@dcp/config';
import * as model from '@dcp/model';
import { presetDir } from '@dcp/model/node';
import * as ps from '@dcp/parallel-state';
import { afterAll, describe, expect, it } from 'vitest';
import * as entry from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const pkgs = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function skipReason(): string | null {
  const missing = [
    existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM}`,
    existsSync(join(pkgs, 'webgpu-mla/dist/index.js')) ? null : 'webgpu-mla is not built (dist/index.js)',
  ].filter((x) => x !== null);
  if (missing.length === 0) return null;
  const reason = missing.join('; ');
  if (process.env.DCP_REQUIRE_SYSTEM_TOOLS === '1') throw new Error(`DCP_REQUIRE_SYSTEM_TOOLS=1: ${reason}`);
  console.warn(`[webgpu-mla] skipping the browser test: ${reason}`);
  return reason;
}

const IMPORTS = {
  '@dcp/backend': '/pkg/backend/dist/index.js',
  '@dcp/backend/testing': '/pkg/backend/dist/testing/index.js',
  '@dcp/parallel-state': '/pkg/parallel-state/dist/index.js',
  '@dcp/webgpu-mla': '/pkg/webgpu-mla/dist/index.js',
  '@dcp/model': '/pkg/model/dist/index.js',
  '@dcp/config': '/pkg/config/dist/index.js',
  zod: '/zod/index.js',
};
const zodDir = dirname(createRequire(join(pkgs, 'config/package.json')).resolve('zod'));

const PAGE = `<!doctype html><meta charset="utf-8"><title>webgpu-mla</title>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>
<script type="module">
import { runConformance, createRng } from '@dcp/backend/testing';
import * as ps from '@dcp/parallel-state';
import * as model from '@dcp/model';
import { parseHfModelConfig } from '@dcp/config';
import * as entry from '@dcp/webgpu-mla';
import { probe } from '/pkg/webgpu-mla/test/probe.mjs';
const tinyConfig = await (await fetch('/pkg/model/presets/tiny/config.json')).json();
window.result = probe({ ...ps, ...model, ...entry, parseHfModelConfig, tinyConfig, runConformance, createRng })
  .then((r) => ({ ...r, isolated: self.crossOriginIsolated }), (e) => ({ error: String(e && e.stack || e) }));
</script>`;

function serve(): Promise<Server> {
  const server = createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
      return;
    }
    const path = normalize(decodeURIComponent(url.pathname));
    const [root, rel] = path.startsWith('/zod/') ? [zodDir, path.slice(5)] : [pkgs, path.slice(5)];
    const file = join(root, rel);
    if (!/^\/(pkg|zod)\//.test(path) || !file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404, headers).end();
      return;
    }
    const type =
      { '.map': 'application/json', '.json': 'application/json' }[extname(file)] ?? 'text/javascript';
    res.writeHead(200, { ...headers, 'Content-Type': type }).end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

interface Generation {
  tokens: number[];
  logits: number[][];
}

interface ProbeResult {
  adapter: { description: string; architecture: string };
  generation: Record<'tp1' | 'tp2', Generation>;
  cases: { name: string; status: string; detail: string }[];
  decode: { out: number[]; lse: number[] };
  isolated?: boolean;
  error?: string;
}

const reason = skipReason();
const nodeAdapter = reason ? null : await adapterOrSkip(entry.platformDescriptor({ allowSoftware: true }));

describe.skipIf(reason !== null || !nodeAdapter)('webgpu-mla in headless Chromium', () => {
  let server: Server | undefined;
  afterAll(() => server?.close());

  it('runs the conformance subset, a decode and tiny-model greedy generation (dcp 1 and 2) with the same results as Node', async () => {
    const probePath = '../test/probe.mjs'; // plain JS, shared with the page
    const { probe } = (await import(probePath)) as { probe(m: unknown): Promise<ProbeResult> };
    const tinyConfig = JSON.parse(readFileSync(join(presetDir('tiny'), 'config.json'), 'utf8'));
    const mods = { ...ps, ...model, ...entry, parseHfModelConfig, tinyConfig, runConformance, createRng };
    const inNode = await probe(mods);
    server = await serve();
    const { port } = server.address() as AddressInfo;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      page.on('pageerror', (e) => logs.push(String(e)));
      await page.goto(`http://127.0.0.1:${port}/`);
      const inPage = (await page.evaluate(() => (globalThis as { result?: unknown }).result)) as
        | ProbeResult
        | undefined;
      expect(inPage?.error, logs.join('\n')).toBeUndefined();
      const page_ = inPage as ProbeResult;
      expect(page_.isolated).toBe(true);
      console.log(`[webgpu-mla] page adapter: ${page_.adapter.architecture} ${page_.adapter.description}`);
      const failed = (r: ProbeResult) => r.cases.filter((c) => c.status === 'failed');
      expect(failed(inNode)).toEqual([]);
      expect(failed(page_)).toEqual([]);
      expect(page_.cases.map((c) => [c.name, c.status])).toEqual(inNode.cases.map((c) => [c.name, c.status]));
      expect(page_.cases.filter((c) => c.status === 'passed').length).toBeGreaterThan(20);
      // Two implementations of f32 math (lavapipe, SwiftShader): equal up to rounding.
      expect(page_.decode.lse.length).toBe(inNode.decode.lse.length);
      page_.decode.lse.forEach((v, i) => {
        const w = inNode.decode.lse[i]!;
        if (Number.isFinite(w)) expect(Math.abs(v - w)).toBeLessThan(1e-4 * (1 + Math.abs(w)));
        else expect(v).toBe(w);
      });
      page_.decode.out.forEach((v, i) => {
        expect(Math.abs(v - inNode.decode.out[i]!)).toBeLessThan(1e-4);
      });
      // The tiny model: the page's greedy tokens equal Node's (ties: within rounding of each other).
      for (const key of ['tp1', 'tp2'] as const) {
        const a = inNode.generation[key];
        const b = page_.generation[key];
        console.log(`[webgpu-mla] ${key} tokens: node ${a.tokens.join(' ')} | page ${b.tokens.join(' ')}`);
        for (let k = 0; k < a.tokens.length; k++) {
          if (a.tokens[k] === b.tokens[k]) continue;
          const l = a.logits[k + 1]!;
          const scale = Math.max(...l.map(Math.abs));
          expect(Math.abs(l[a.tokens[k]!]! - l[b.tokens[k]!]!) / scale, `${key} token ${k}`).toBeLessThan(
            1e-4,
          );
          break;
        }
        expect(b.tokens.length).toBe(7);
        a.logits.forEach((row, s) => {
          const scale = Math.max(...row.map(Math.abs));
          if (b.tokens.slice(0, s).join() !== a.tokens.slice(0, s).join()) return;
          let worst = 0;
          row.forEach((v, j) => {
            worst = Math.max(worst, Math.abs(v - b.logits[s]![j]!) / scale);
          });
          expect(worst, `${key} logits of step ${s}`).toBeLessThan(1e-4);
        });
      }
    } finally {
      await browser.close();
    }
  }, 300_000);
});
