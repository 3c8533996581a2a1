/**
 * The driver-side pieces every engine factory shares, whatever runs its ranks (worker threads in
 * Node, Web Workers in a browser): what the ranks share and are told, load progress over all
 * ranks, and the scheduler, KV manager and engine wired over the started ranks.
 */
import type { EngineConfig, ModelConfig } from '@dcp/config';
import { createKVCacheManager } from '@dcp/kv-cache';
import { createThreadCommState, reportRankExit, type Topology } from '@dcp/parallel-state';
import { Scheduler } from '@dcp/scheduler';
import { AsyncLLM } from './async-llm.js';
import type { Executor } from './executor/executor.js';
import type { LoadProgressMessage } from './executor/protocol.js';
import type { RankExecutorOptions } from './executor/rank-executor.js';
import type { KvPlan } from './kv-plan.js';
import { LLMEngine } from './llm-engine.js';
import type { RankSpec } from './runner/build-rank.js';
import type { TextTokenizer } from './text/tokenizer.js';

/** Startup options every engine factory takes besides the config. */
export interface EngineStartOptions {
  /** Log lines (layout, backend, KV capacity, notices). Default: console.error in Node, console.log in a browser. */
  log?: (line: string) => void;
  /** Weight-loading progress, bytes over all ranks. */
  onProgress?: (done: number, total: number) => void;
  /** Communicator timeout per collective step (ms). */
  commTimeoutMs?: number;
}

/** What every engine factory returns besides its model and executor. */
export interface CreatedEngineParts {
  llm: AsyncLLM;
  engine: LLMEngine;
  tokenizer: TextTokenizer | null;
  modelConfig: ModelConfig;
  topology: Topology;
  /** Physical blocks per rank and tokens the whole cache holds (×dcp). */
  kv: { numBlocks: number; blockSize: number; tokenCapacity: number; bytesPerRank: number };
  maxModelLen: number;
  /** What every rank reported (backend chosen, rejected ones and why, layers, weights, ...). */
  rankInfo: readonly Record<string, unknown>[];
}

/** What an engine factory starts its executor with. */
export interface EngineRanks {
  /**
   * The executor's options: the world size, load progress over all ranks (given to
   * `onProgress` once every rank has reported: the totals are known only then), and a dead
   * rank's peers woken in their collectives.
   */
  options: Required<Pick<RankExecutorOptions, 'worldSize' | 'onProgress' | 'onRankDeath'>>;
  /** What rank `rank` is told of the layout, dtypes, KV cache, backend and comm state. */
  spec(rank: number): RankSpec;
}

/**
 * The ranks of an engine: their shared-memory comm state (collectives carry activations in the
 * model dtype, so reductions read 16-bit data as that format) and what each is told.
 */
export function engineRanks(
  config: EngineConfig,
  topology: Topology,
  plan: KvPlan,
  o: EngineStartOptions,
): EngineRanks {
  const comm = createThreadCommState(topology, {
    halfFormat: plan.dtype === 'f16' ? 'f16' : 'bf16',
    ...(o.commTimeoutMs ? { timeoutMs: o.commTimeoutMs } : {}),
  });
  const { tp, pp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  const progress = new Map<number, LoadProgressMessage>();
  return {
    options: {
      worldSize: topology.worldSize,
      onProgress: (m) => {
        progress.set(m.rank, m);
        if (progress.size < topology.worldSize) return;
        let done = 0;
        let total = 0;
        for (const p of progress.values()) {
          done += p.bytesDone;
          total += p.bytesTotal;
        }
        o.onProgress?.(done, total);
      },
      onRankDeath: (rank) => reportRankExit(comm, rank, 1),
    },
    spec: (rank) => ({
      rank,
      topology: { tp, pp, dcp },
      interleave,
      dcpCombine: dcpCommBackend,
      dtype: plan.dtype,
      kvDtype: plan.kvDtype,
      blockSize: plan.blockSize,
      numBlocks: plan.numBlocks,
      attentionBackend: config.attentionBackend,
      comm,
    }),
  };
}

/** What `assembleEngine` wires together. */
export interface EngineAssembly {
  config: EngineConfig;
  modelConfig: ModelConfig;
  topology: Topology;
  plan: KvPlan;
  tokenizer: TextTokenizer | null;
  /** The started ranks. */
  executor: Executor;
}

/** The KV manager, scheduler, `LLMEngine` and `AsyncLLM` over started ranks. */
export function assembleEngine(a: EngineAssembly): CreatedEngineParts {
  const { config, modelConfig, topology, plan, tokenizer, executor } = a;
  const { dcp, cpKvCacheInterleaveSize: interleave } = config.parallel;
  const scheduler = new Scheduler({
    kvCacheManager: createKVCacheManager({
      numBlocks: plan.numBlocks,
      blockSize: plan.blockSize,
      dcp,
      enablePrefixCaching: config.cache.enablePrefixCaching,
      maxModelLen: plan.maxModelLen,
    }),
    maxNumBatchedTokens: config.scheduler.maxNumBatchedTokens,
    maxNumSeqs: config.scheduler.maxNumSeqs,
    maxModelLen: plan.maxModelLen,
    enableChunkedPrefill: config.scheduler.enableChunkedPrefill,
    eosTokenId: tokenizer?.eosTokenId ?? modelConfig.eosTokenIds[0] ?? null,
  });
  const engine = new LLMEngine({
    scheduler,
    executor,
    tokenizer,
    vocabSize: modelConfig.vocabSize,
    layout: { dcp, interleave, slotsPerRank: (plan.numBlocks - 1) * plan.blockSize },
  });
  return {
    llm: new AsyncLLM(engine),
    engine,
    tokenizer,
    modelConfig,
    topology,
    kv: {
      numBlocks: plan.numBlocks,
      blockSize: plan.blockSize,
      tokenCapacity: plan.tokenCapacity,
      bytesPerRank: plan.bytesPerRank,
    },
    maxModelLen: plan.maxModelLen,
    rankInfo: executor.rankInfo,
  };
}
