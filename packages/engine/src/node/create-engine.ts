import { ConfigError, type EngineConfig, validateEngineConfig } from '@dcp/config';
import { loadHfModelConfig } from '@dcp/config/node';
import { makeTopology } from '@dcp/parallel-state';
import { webgpuMlaConfigOptions } from '@dcp/webgpu-mla';
import {
  assembleEngine,
  type CreatedEngineParts,
  type EngineStartOptions,
  engineRanks,
} from '../engine-parts.js';
import { ThreadExecutor } from '../executor/thread-executor.js';
import { planKvCache } from '../kv-plan.js';
import type { RankWorkerData } from '../runner/worker-data.js';
import { createHfTokenizer, type TextTokenizer } from '../text/tokenizer.js';
import { type ResolvedModel, resolveModel } from './resolve-model.js';

/** Default KV memory per rank on the CPU backend when neither KV flag is given. */
export const DEFAULT_CPU_KV_BYTES = 256 * 1024 * 1024;

/** What `createEngine` returns: the async front, its parts, and what it decided. */
export interface CreatedEngine extends CreatedEngineParts {
  model: ResolvedModel;
  /** The worker threads (one per rank). */
  executor: ThreadExecutor;
}

/** Startup options besides the config. */
export interface CreateEngineOptions extends EngineStartOptions {
  /** Model used when `config.model` is null. */
  defaultModel?: string;
}

/**
 * Builds a running engine from an `EngineConfig`: resolves the model, checks the layout against
 * it, sizes the KV cache (the same block count on every rank, since block ids are shared across a
 * DCP group), starts one worker thread per rank, and wires scheduler, tokenizer and executor.
 */
export async function createEngine(
  config: EngineConfig,
  o: CreateEngineOptions = {},
): Promise<CreatedEngine> {
  const log = o.log ?? ((l: string) => console.error(l));
  const model = resolveModel(config.model ?? o.defaultModel ?? 'tiny', config.load.loadFormat);
  for (const n of model.notices) log(`notice: ${n}`);
  const modelConfig = await loadHfModelConfig(model.dir);
  validateEngineConfig(config, modelConfig);
  checkBackendConfig(config);
  const { tp, pp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  const topology = makeTopology({ tp, pp, dcp });
  const plan = planKvCache(config, modelConfig, topology, { defaultBytes: DEFAULT_CPU_KV_BYTES });
  for (const n of plan.notices) log(`notice: ${n}`);
  log(
    `layout: world ${topology.worldSize} = pp ${pp} × tp ${tp}; DCP ${dcp} (interleave ${interleave}, ${dcpCommBackend})`,
  );
  log(`layout: DCP groups ${topology.dcpGroups.map((g) => `[${g.join(',')}]`).join(' ')}`);
  log(
    `KV cache: ${plan.numBlocks} blocks × ${plan.blockSize} tokens per rank (${plan.bytesPerRank / 2 ** 20} MiB, ${plan.kvDtype})`,
  );
  if (dcp > 1) log(`KV cache: multiplying the KV cache size by the dcp world size ${dcp}.`);
  log(`KV cache size: ${plan.tokenCapacity} tokens`);

  const ranks = engineRanks(config, topology, plan, o);
  const gpus = config.webgpuDevices;
  // Rank r on entry r mod n of --webgpu-devices.
  const gpuOf = (rank: number) => (gpus ? (gpus[rank % gpus.length] ?? null) : null);
  if (gpus) log(`webgpu: ranks on PCI ${topology.ranks.map((r) => gpuOf(r.rank)).join(', ')}`);
  const adapterLock = new SharedArrayBuffer(4);
  const executor = await ThreadExecutor.start({
    ...ranks.options,
    workerUrl: new URL('./worker.js', import.meta.url),
    workerData: (rank): RankWorkerData => ({
      ...ranks.spec(rank),
      modelDir: model.dir,
      loadFormat: model.loadFormat,
      seed: config.load.seed,
      pciBusId: gpuOf(rank),
      attentionBackendConfig: config.attentionBackendConfig,
      adapterLock,
    }),
    shareEnv: gpus !== null,
  });
  const info0 = executor.rankInfo[0] ?? {};
  log(`backend: ${String(info0.backend)} on every rank${describeRejected(info0.rejected)}`);
  let tokenizer: TextTokenizer | null = null;
  if (!config.skipTokenizerInit) {
    if (model.tokenizer) tokenizer = createHfTokenizer(model.tokenizer.json, model.tokenizer.config);
    else
      log(
        `notice: ${model.name} has no tokenizer.json: working on token ids (as with --skip-tokenizer-init)`,
      );
  }
  return {
    ...assembleEngine({ config, modelConfig, topology, plan, tokenizer, executor }),
    model,
    executor,
  };
}

function describeRejected(r: unknown): string {
  if (!r || typeof r !== 'object' || Object.keys(r).length === 0) return '';
  return ` (not chosen: ${Object.entries(r as Record<string, string[]>)
    .map(([k, v]) => `${k}: ${v.join('; ')}`)
    .join(' | ')})`;
}

/**
 * Checks `--attention-backend-config` against the backend it names before any rank starts: only
 * `webgpu-mla` takes options today. Throws a `ConfigError` naming the flag and the key.
 */
function checkBackendConfig(config: EngineConfig): void {
  const options = config.attentionBackendConfig;
  if (!options) return;
  const fail = (message: string): never => {
    throw new ConfigError(`--attention-backend-config: ${message}`, {
      field: 'attentionBackendConfig',
      flag: '--attention-backend-config',
    });
  };
  if (config.attentionBackend !== 'webgpu-mla') {
    fail(`${config.attentionBackend} takes no options (only webgpu-mla has any)`);
  }
  try {
    webgpuMlaConfigOptions(options);
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}
