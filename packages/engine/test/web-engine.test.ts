/**
 * `@dcp/engine/web` without a browser: the page side (`createWebEngine`, `WebWorkerExecutor`) and
 * the rank side (`runWebRank`) talking through stand-in workers on this thread, with the brown
 * checkpoint fetched over HTTP Range requests and `cpu-mla` on every rank. Its tokens must equal
 * the Node engine's in the same layout; failures must end requests, not hang them.
 */
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importsOf } from '@dcp/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../dist/node.js';
import { buildWebRank, createWebEngine, resolveWebModel } from '../dist/web/index.js';
import { PROMPT, testConfig } from './web/config.js';
import { fakeWorkers } from './web/fake-worker.js';
import { type Served, serveSite } from './web/serve.js';

const here = dirname(fileURLToPath(import.meta.url));
const brownDir = join(here, '..', '..', 'brown-model', 'model');
const presetDir = join(here, '..', '..', 'model', 'presets');
const isolated = globalThis as { crossOriginIsolated?: boolean };

let site: Served;
beforeAll(async () => {
  site = await serveSite({ folders: { '/brown/': brownDir, '/presets/': presetDir } });
  isolated.crossOriginIsolated = true; // what a page served with COOP/COEP has
});
afterAll(async () => {
  delete isolated.crossOriginIsolated;
  await site.close();
});

async function generate(
  llm: { generate: typeof import('../dist/index.js').AsyncLLM.prototype.generate },
  ids: number[],
  n: number,
) {
  const tokens: number[] = [];
  let text = '';
  let error: string | undefined;
  for await (const d of llm.generate({
    requestId: 'r',
    promptTokenIds: ids,
    params: { maxTokens: n, temperature: 0, ignoreEos: true },
  })) {
    tokens.push(...d.newTokenIds);
    text += d.newText;
    if (d.finishReason === 'error') error = d.error;
  }
  return { tokens, text, error };
}

describe('createWebEngine on stand-in workers', () => {
  it("tp2·dcp2 with chunked prefill gives the Node engine's tokens and text (same backend: exactly)", async () => {
    const node = await createEngine(testConfig({ model: 'brown', tp: 2, dcp: 2, backend: 'cpu-mla' }), {
      log: () => {},
    });
    const ids = node.tokenizer!.encode(PROMPT);
    const ref = await generate(node.llm, ids, 10);
    await node.llm.shutdown();
    const config = testConfig({ model: `${site.base}/brown/`, tp: 2, dcp: 2, backend: 'cpu-mla' });
    config.scheduler.maxNumBatchedTokens = 8; // several prefill chunks, each attending to the context of both ranks
    const { createWorker, created } = fakeWorkers();
    const lines: string[] = [];
    const web = await createWebEngine(config, { createWorker, log: (l) => lines.push(l) });
    try {
      expect(created).toEqual(['dcp-rank-0', 'dcp-rank-1']);
      expect(web.tokenizer!.encode(PROMPT)).toEqual(ids);
      expect(web.model.weights).toEqual({ kind: 'safetensors', url: `${site.base}/brown/` });
      expect(web.rankInfo.map((i) => [i.rank, i.backend, i.workerName])).toEqual([
        [0, 'cpu-mla', 'dcp-rank-0'],
        [1, 'cpu-mla', 'dcp-rank-1'],
      ]);
      expect(lines.join('\n')).toMatch(/DCP 2 .*one Web Worker per rank/);
      const got = await generate(web.llm, ids, 10);
      expect(got.error).toBeUndefined();
      expect(got.tokens).toEqual(ref.tokens);
      expect(got.text).toBe(ref.text);
      // Each rank fetched its own slices with Range requests.
      expect(site.ranges.filter((r) => r.startsWith('/brown/model.safetensors ')).length).toBeGreaterThan(20);
    } finally {
      await web.llm.shutdown();
    }
  });

  it('a preset folder without weights loads seeded dummy weights, with a notice; safetensors then fails', async () => {
    const m = await resolveWebModel(`${site.base}/presets/tiny/`, { loadFormat: 'auto', seed: 3 });
    expect(m.weights).toEqual({ kind: 'dummy', seed: 3 });
    expect(m.notices.join()).toMatch(/has no weights: using deterministic dummy weights \(seed 3\)/);
    expect(m.tokenizer).not.toBeNull();
    await expect(
      resolveWebModel(`${site.base}/presets/tiny`, { loadFormat: 'safetensors', seed: 0 }),
    ).rejects.toThrow(
      /presets\/tiny\/: load format safetensors: neither model.safetensors.index.json nor model.safetensors is served/,
    );
    await expect(resolveWebModel(`${site.base}/nowhere/`, { loadFormat: 'auto', seed: 0 })).rejects.toThrow(
      /nowhere\/config.json: HTTP 404/,
    );
  });

  it('a rank that cannot start fails startup naming the rank and the reason', async () => {
    const { createWorker } = fakeWorkers();
    const config = testConfig({ model: `${site.base}/brown/`, tp: 2, dcp: 1, backend: 'no-such-backend' });
    await expect(createWebEngine(config, { createWorker, log: () => {} })).rejects.toThrow(
      /rank [01] failed: Unknown attention backend 'no-such-backend'/,
    );
  });

  it('a rank that dies mid-generation ends the request with an error, releases its peer and closes its runner', async () => {
    let failedRankClosed = false;
    const { createWorker } = fakeWorkers((name) => ({
      build: async (init, progress, facts) => {
        const r = await buildWebRank(init, progress, facts);
        let steps = 0;
        return name === 'dcp-rank-1'
          ? {
              info: () => r.info(),
              execute: (input) => {
                if (++steps === 3) throw new Error('injected failure');
                return r.execute(input);
              },
              close: async () => {
                await r.close?.();
                failedRankClosed = true;
              },
            }
          : r;
      },
    }));
    const config = testConfig({ model: `${site.base}/brown/`, tp: 2, dcp: 2, backend: 'cpu-mla' });
    const web = await createWebEngine(config, {
      createWorker,
      log: () => {},
      commTimeoutMs: 60_000,
    });
    try {
      const got = await generate(web.llm, web.tokenizer!.encode(PROMPT), 8);
      expect(got.error).toMatch(/rank 1 failed: injected failure/);
      expect(web.engine.dead).toMatch(/rank 1 failed/);
      // The failed rank releases its backend (and device) before its worker closes.
      for (let i = 0; i < 100 && !failedRankClosed; i++) await new Promise((r) => setTimeout(r, 20));
      expect(failedRankClosed).toBe(true);
    } finally {
      await web.llm.shutdown();
    }
  });

  it('refuses to start where the page is not cross-origin isolated', async () => {
    isolated.crossOriginIsolated = false;
    try {
      await expect(
        createWebEngine(testConfig({ model: `${site.base}/brown/`, tp: 1, dcp: 1, backend: 'cpu-mla' }), {
          workerUrl: 'x',
          ...fakeWorkers(),
        }),
      ).rejects.toThrow(
        /Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/,
      );
    } finally {
      isolated.crossOriginIsolated = true;
    }
  });

  it('asks for exactly one of workerUrl and createWorker', async () => {
    const config = testConfig({ model: `${site.base}/brown/`, tp: 1, dcp: 1, backend: 'cpu-mla' });
    await expect(createWebEngine(config, {})).rejects.toThrow(/workerUrl: give the rank worker script/);
    await expect(
      createWebEngine(config, { workerUrl: 'w.js', createWorker: fakeWorkers().createWorker }),
    ).rejects.toThrow(/give one of them, not both/);
    await expect(
      createWebEngine(config, {
        createWorker: () => {
          throw new Error('blocked by policy');
        },
        log: () => {},
      }),
    ).rejects.toThrow(/rank 0: its worker could not be started: blocked by policy/);
    // Node has no Web Workers: a URL alone cannot start ranks here.
    await expect(createWebEngine(config, { workerUrl: 'w.js' })).rejects.toThrow(/no Web Workers/);
  });
});

describe('the web entry', () => {
  it('imports no Node built-in (and no Node-only package), following its chunks', () => {
    const specs = importsOf(new URL('../dist/web/index.js', import.meta.url));
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(specs.filter((s) => builtins.has(s) || s.startsWith('node:'))).toEqual([]);
    expect(specs.filter((s) => /flashmla|brown-model|\/node$/.test(s))).toEqual([]);
    expect(specs).toContain('@dcp/webgpu-mla');
    // The check sees built-ins where they are: the Node entry does import worker_threads.
    expect(importsOf(new URL('../dist/node.js', import.meta.url)).some((s) => builtins.has(s))).toBe(true);
  });
});
