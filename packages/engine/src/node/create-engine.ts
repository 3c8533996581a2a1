import type { FloatDType } from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import { ConfigError, type EngineConfig, validateEngineConfig } from '@dcp/config';
import { loadHfModelConfig } from '@dcp/config/node';
import { createKVCacheManager } from '@dcp/kv-cache';
import { DeepseekV2Model, rankLayout } from '@dcp/model';
import { makeTopology, type Topology } from '@dcp/parallel-state';
import { createThreadCommState, reportRankExit } from '@dcp/parallel-state/node';
import { Scheduler } from '@dcp/scheduler';
import { AsyncLLM } from '../async-llm.js';
import type { LoadProgressMessage } from '../executor/protocol.js';
import { ThreadExecutor } from '../executor/thread-executor.js';
import { LLMEngine } from '../llm-engine.js';
import type { RankWorkerData } from '../runner/worker-data.js';
import { createHfTokenizer, type TextTokenizer } from '../text/tokenizer.js';
import { type ResolvedModel, resolveModel } from './resolve-model.js';

/** Default KV memory per rank on the CPU backend when neither KV flag is given. */
export const DEFAULT_CPU_KV_BYTES = 256 * 1024 * 1024;

/** What `createEngine` returns: the async front, its parts, and what it decided. */
export interface CreatedEngine {
  llm: AsyncLLM;
  engine: LLMEngine;
  tokenizer: TextTokenizer | null;
  modelConfig: ModelConfig;
  model: ResolvedModel;
  topology: Topology;
  /** Physical blocks per rank and tokens the whole cache holds (×dcp). */
  kv: { numBlocks: number; blockSize: number; tokenCapacity: number; bytesPerRank: number };
  maxModelLen: number;
  /** What every rank reported (backend chosen, rejected ones and why, layers, weights). */
  rankInfo: readonly Record<string, unknown>[];
  /** The worker threads (one per rank). */
  executor: ThreadExecutor;
}

/** Startup options besides the config. */
export interface CreateEngineOptions {
  /** Log lines (layout, backend, KV capacity, notices). Default: console.error. */
  log?: (line: string) => void;
  /** Weight-loading progress, bytes over all ranks. */
  onProgress?: (done: number, total: number) => void;
  /** Model used when `config.model` is null. */
  defaultModel?: string;
  /** Communicator timeout per collective step (ms). */
  commTimeoutMs?: number;
}

function floatDtype(d: string, fallback: FloatDType): FloatDType {
  if (d === 'float32' || d === 'fp32' || d === 'f32') return 'f32';
  if (d === 'bfloat16' || d === 'bf16') return 'bf16';
  if (d === 'float16' || d === 'fp16' || d === 'f16') return 'f16';
  return fallback;
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
  const { tp, pp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  const topology = makeTopology({ tp, pp, dcp });
  const dtype = floatDtype(config.load.dtype, 'f32');
  const kvDtype = floatDtype(config.cache.kvCacheDtype, dtype);
  const blockSize = config.cache.blockSize;
  const kvBytesEl = kvDtype === 'f32' ? 4 : 2;
  let maxBlockBytes = 0;
  for (let r = 0; r < topology.worldSize; r++) {
    const { shard } = rankLayout(topology, r, modelConfig, interleave);
    maxBlockBytes = Math.max(
      maxBlockBytes,
      DeepseekV2Model.kvCacheBytesPerBlock(modelConfig, shard, blockSize, kvBytesEl),
    );
  }
  const numBlocks =
    config.cache.numGpuBlocksOverride ??
    Math.floor((config.cache.kvCacheMemoryBytes ?? DEFAULT_CPU_KV_BYTES) / maxBlockBytes);
  if (numBlocks < 2) {
    throw new ConfigError(
      `--kv-cache-memory-bytes/--num-gpu-blocks-override give ${numBlocks} blocks of ${maxBlockBytes} bytes per rank; at least 2 are needed`,
      { field: 'cache.kvCacheMemoryBytes', flag: '--kv-cache-memory-bytes' },
    );
  }
  const tokenCapacity = (numBlocks - 1) * blockSize * dcp;
  let maxModelLen = config.scheduler.maxModelLen ?? modelConfig.maxPositionEmbeddings;
  if (config.scheduler.maxModelLen === null && maxModelLen > tokenCapacity) {
    log(`notice: max model length capped from ${maxModelLen} to the KV capacity of ${tokenCapacity} tokens`);
    maxModelLen = tokenCapacity;
  }
  log(
    `layout: world ${topology.worldSize} = pp ${pp} × tp ${tp}; DCP ${dcp} (interleave ${interleave}, ${dcpCommBackend})`,
  );
  log(`layout: DCP groups ${topology.dcpGroups.map((g) => `[${g.join(',')}]`).join(' ')}`);
  log(
    `KV cache: ${numBlocks} blocks × ${blockSize} tokens per rank (${(numBlocks * maxBlockBytes) / 2 ** 20} MiB, ${kvDtype})`,
  );
  if (dcp > 1) log(`KV cache: multiplying the KV cache size by the dcp world size ${dcp}.`);
  log(`KV cache size: ${tokenCapacity} tokens`);

  // Collectives carry activations in the model dtype: reductions must read 16-bit data as that format.
  const comm = createThreadCommState(topology, {
    halfFormat: dtype === 'f16' ? 'f16' : 'bf16',
    ...(o.commTimeoutMs ? { timeoutMs: o.commTimeoutMs } : {}),
  });
  const progress = new Map<number, LoadProgressMessage>();
  const executor = await ThreadExecutor.start({
    worldSize: topology.worldSize,
    workerUrl: new URL('./worker.js', import.meta.url),
    workerData: (rank): RankWorkerData => ({
      rank,
      topology: { tp, pp, dcp },
      interleave,
      dcpCombine: dcpCommBackend,
      modelDir: model.dir,
      loadFormat: model.loadFormat,
      seed: config.load.seed,
      dtype,
      kvDtype,
      blockSize,
      numBlocks,
      attentionBackend: config.attentionBackend,
      comm,
    }),
    onRankDeath: (rank) => reportRankExit(comm, rank, 1),
    onProgress: (m) => {
      progress.set(m.rank, m);
      if (progress.size < topology.worldSize) return; // totals are known once every rank reported
      let done = 0;
      let total = 0;
      for (const p of progress.values()) {
        done += p.bytesDone;
        total += p.bytesTotal;
      }
      o.onProgress?.(done, total);
    },
  });
  const info0 = executor.rankInfo[0] ?? {};
  log(`backend: ${String(info0.backend)} on every rank${describeRejected(info0.rejected)}`);
  const kv = createKVCacheManager({
    numBlocks,
    blockSize,
    dcp,
    enablePrefixCaching: config.cache.enablePrefixCaching,
    maxModelLen,
  });
  let tokenizer: TextTokenizer | null = null;
  if (!config.skipTokenizerInit) {
    if (model.tokenizer) tokenizer = createHfTokenizer(model.tokenizer.json, model.tokenizer.config);
    else
      log(
        `notice: ${model.name} has no tokenizer.json: working on token ids (as with --skip-tokenizer-init)`,
      );
  }
  const scheduler = new Scheduler({
    kvCacheManager: kv,
    maxNumBatchedTokens: config.scheduler.maxNumBatchedTokens,
    maxNumSeqs: config.scheduler.maxNumSeqs,
    maxModelLen,
    enableChunkedPrefill: config.scheduler.enableChunkedPrefill,
    eosTokenId: tokenizer?.eosTokenId ?? modelConfig.eosTokenIds[0] ?? null,
  });
  const engine = new LLMEngine({
    scheduler,
    executor,
    tokenizer,
    vocabSize: modelConfig.vocabSize,
    layout: { dcp, interleave, slotsPerRank: (numBlocks - 1) * blockSize },
  });
  return {
    llm: new AsyncLLM(engine),
    engine,
    tokenizer,
    modelConfig,
    model,
    topology,
    kv: { numBlocks, blockSize, tokenCapacity, bytesPerRank: numBlocks * maxBlockBytes },
    maxModelLen,
    rankInfo: executor.rankInfo,
    executor,
  };
}

function describeRejected(r: unknown): string {
  if (!r || typeof r !== 'object' || Object.keys(r).length === 0) return '';
  return ` (not chosen: ${Object.entries(r as Record<string, string[]>)
    .map(([k, v]) => `${k}: ${v.join('; ')}`)
    .join(' | ')})`;
}
