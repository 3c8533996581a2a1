import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createHfTokenizer, type TextTokenizer } from '@dcp/engine';
import { createFakeEngine } from '@dcp/engine/testing';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../http/app.js';
import type { ServerContext } from '../http/context.js';
import { createMetrics } from '../http/metrics.js';

/** The tiny preset's real tokenizer files (shipped by @dcp/model). */
export function tinyTokenizer(): TextTokenizer {
  const require = createRequire(import.meta.url);
  const dir = join(require.resolve('@dcp/model/package.json'), '..', 'presets', 'tiny');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  return createHfTokenizer(json, config);
}

/** Ordinary word-piece tokens (ids 300..1800) chosen from the history: deterministic, never EOS. */
export const fakeNext = (h: readonly number[]) =>
  300 + ((h.reduce((a, b) => (a * 31 + b) % 100_003, 17) * 13) % 1500);

/** A real HTTP server on a loopback port over a fake engine with the real tokenizer. */
export async function startFakeServer(
  over: Partial<ServerContext> = {},
  engineOpts: { numBlocks?: number; next?: (h: readonly number[]) => number } = {},
) {
  const tokenizer = tinyTokenizer();
  const { llm, engine, runner } = createFakeEngine({
    vocab: 2048,
    next: engineOpts.next ?? fakeNext,
    tokenizer,
    eosTokenId: tokenizer.eosTokenId,
    maxModelLen: 512,
    ...(engineOpts.numBlocks ? { numBlocks: engineOpts.numBlocks } : {}),
  });
  const ctx: ServerContext = {
    llm,
    tokenizer,
    servedModelNames: ['tiny'],
    maxModelLen: 512,
    apiKey: null,
    maxLogLen: 0,
    version: '0.0.0-test',
    metrics: createMetrics(engine, 'tiny'),
    ...over,
  };
  const app: FastifyInstance = buildServer(ctx);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    app,
    ctx,
    engine,
    runner,
    tokenizer,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await llm.shutdown();
    },
  };
}
