import { type EngineConfig, validateEngineConfig } from '@dcp/config';
import { makeTopology } from '@dcp/parallel-state';
import {
  assembleEngine,
  type CreatedEngineParts,
  type EngineStartOptions,
  engineRanks,
} from '../engine-parts.js';
import { createHfTokenizer } from '../text/tokenizer.js';
import { globalWorker, isCrossOriginIsolated, type WebWorkerLike } from './dom.js';
import { planKvCache } from './kv-plan.js';
import type { WebRankInit } from './protocol.js';
import { resolveWebModel, type WebModel } from './resolve-web-model.js';
import { WebWorkerExecutor } from './worker-executor.js';

/** The page is not cross-origin isolated, so it cannot share memory with its rank workers. */
export class CrossOriginIsolationError extends Error {
  override name = 'CrossOriginIsolationError';
}

/** Options of `createWebEngine` besides the config. */
export interface CreateWebEngineOptions extends EngineStartOptions {
  /**
   * The URL of a module script that calls `runWebRank()`: each rank runs it in
   * `new Worker(workerUrl, { type: 'module', name })`. Give this or `createWorker`.
   */
  workerUrl?: string | URL;
  /**
   * Starts the worker of one rank instead (bundlers recognise
   * `new Worker(new URL('./rank-worker.js', import.meta.url), { type: 'module', name })` and bundle
   * the worker script).
   */
  createWorker?: (rank: number, name: string) => WebWorkerLike;
  /** Let `webgpu-mla` run on a software adapter (SwiftShader). Default false. */
  allowSoftwareGpu?: boolean;
  /** The `fetch` used for the model files on the page (default: the global one). */
  fetch?: typeof fetch;
}

function workerFactory(o: CreateWebEngineOptions): (rank: number, name: string) => WebWorkerLike {
  if (o.createWorker && o.workerUrl !== undefined)
    throw new Error('workerUrl, createWorker: give one of them, not both');
  if (o.createWorker) return o.createWorker;
  const url = o.workerUrl;
  if (url === undefined) throw new Error('workerUrl: give the rank worker script (or createWorker)');
  const Worker = globalWorker();
  if (!Worker) throw new Error('workerUrl: this runtime has no Web Workers (give createWorker)');
  return (_rank, name) => new Worker(url, { type: 'module', name });
}

/** What `createWebEngine` returns: the async front, its parts, and what it decided. */
export interface CreatedWebEngine extends CreatedEngineParts {
  model: WebModel;
  /** The rank workers (each reports its backend, adapter, global scope and worker name, ...). */
  executor: WebWorkerExecutor;
}

/**
 * The engine in a browser: the scheduler, KV manager and tokenizer on the calling thread (the
 * page), one dedicated Web Worker per rank, each with its own backend (`webgpu-mla` on a device
 * requested in that worker, or `cpu-mla`), weight shard and KV cache, collectives through
 * shared memory. `config.model` is the URL of a Hugging Face model folder (`config.json`,
 * safetensors fetched by each rank with Range requests, `tokenizer.json`). The page must be
 * cross-origin isolated (served with `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`), since the ranks share memory.
 */
export async function createWebEngine(
  config: EngineConfig,
  o: CreateWebEngineOptions,
): Promise<CreatedWebEngine> {
  const log = o.log ?? ((l: string) => console.log(l));
  if (!isCrossOriginIsolated()) {
    throw new CrossOriginIsolationError(
      'crossOriginIsolated is false: serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (the rank workers share memory through SharedArrayBuffer)',
    );
  }
  if (config.model === null) throw new Error('model: give the URL of the model folder (config.model)');
  const createWorker = workerFactory(o);
  const model = await resolveWebModel(config.model, {
    loadFormat: config.load.loadFormat,
    seed: config.load.seed,
    withTokenizer: !config.skipTokenizerInit,
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
  for (const n of model.notices) log(`notice: ${n}`);
  const { modelConfig } = model;
  validateEngineConfig(config, modelConfig);
  const { tp, pp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  const topology = makeTopology({ tp, pp, dcp });
  const plan = planKvCache(config, modelConfig, topology);
  for (const n of plan.notices) log(`notice: ${n}`);
  log(
    `layout: world ${topology.worldSize} = pp ${pp} × tp ${tp}; DCP ${dcp} (interleave ${interleave}, ${dcpCommBackend}), one Web Worker per rank`,
  );
  log(
    `KV cache: ${plan.numBlocks} blocks × ${plan.blockSize} tokens per rank (${plan.kvDtype}); ${plan.tokenCapacity} tokens in all`,
  );

  const ranks = engineRanks(config, topology, plan, o);
  const executor = await WebWorkerExecutor.start({
    ...ranks.options,
    createWorker,
    init: (rank): WebRankInit => ({
      ...ranks.spec(rank),
      type: 'init',
      hfConfig: model.hfConfig,
      weights: model.weights,
      allowSoftwareGpu: o.allowSoftwareGpu ?? false,
    }),
  });
  log(
    `backend: ${executor.rankInfo.map((i) => String(i.backend)).join(', ')} (ranks 0..${topology.worldSize - 1})`,
  );
  const tokenizer = model.tokenizer ? createHfTokenizer(model.tokenizer.json, model.tokenizer.config) : null;
  if (!tokenizer && !config.skipTokenizerInit)
    log(`notice: ${model.url} has no tokenizer.json: working on token ids`);
  return {
    ...assembleEngine({ config, modelConfig, topology, plan, tokenizer, executor }),
    model,
    executor,
  };
}
