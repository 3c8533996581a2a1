/**
 * KV-cache sizing and dtypes of one engine, the same in Node (`createEngine`) and in a browser
 * (`createWebEngine`): only the default memory and how errors name the options differ.
 */
import type { FloatDType } from '@dcp/backend';
import { ConfigError, type EngineConfig, type ModelConfig } from '@dcp/config';
import { DeepseekV2Model, rankLayout } from '@dcp/model';
import type { Topology } from '@dcp/parallel-state';

/** The dtypes and KV cache sizing of one engine. */
export interface KvPlan {
  dtype: FloatDType;
  kvDtype: FloatDType;
  blockSize: number;
  /** Physical blocks per rank (the same on every rank: block ids are shared across a DCP group). */
  numBlocks: number;
  /** Tokens the whole cache holds (×dcp). */
  tokenCapacity: number;
  bytesPerRank: number;
  maxModelLen: number;
  /** Lines worth logging (capped max model length). */
  notices: string[];
}

/** How `planKvCache` sizes and speaks. */
export interface KvPlanOptions {
  /** KV memory per rank when the config gives neither `kvCacheMemoryBytes` nor `numGpuBlocksOverride`. */
  defaultBytes: number;
  /**
   * How a too-small cache's error names the sizing options: as command-line flags (`flags`,
   * `--kv-cache-memory-bytes/--num-gpu-blocks-override`, the default) or as config fields (`fields`).
   */
  names?: 'flags' | 'fields';
}

/** `--dtype` / `--kv-cache-dtype` spellings as backend dtypes. */
export function floatDtype(d: string, fallback: FloatDType): FloatDType {
  if (d === 'float32' || d === 'fp32' || d === 'f32') return 'f32';
  if (d === 'bfloat16' || d === 'bf16') return 'bf16';
  if (d === 'float16' || d === 'fp16' || d === 'f16') return 'f16';
  return fallback;
}

/**
 * Sizes the KV cache: `cache.numGpuBlocksOverride`, or `cache.kvCacheMemoryBytes` (default
 * `o.defaultBytes`) over the largest per-rank block (the same block count on every rank, since
 * block ids are shared across a DCP group); caps the max model length at the capacity when the
 * config leaves it open. Throws a `ConfigError` when fewer than 2 blocks fit.
 */
export function planKvCache(
  config: EngineConfig,
  modelConfig: ModelConfig,
  topology: Topology,
  o: KvPlanOptions,
): KvPlan {
  const dtype = floatDtype(config.load.dtype, 'f32');
  const kvDtype = floatDtype(config.cache.kvCacheDtype, dtype);
  const blockSize = config.cache.blockSize;
  const interleave = config.parallel.cpKvCacheInterleaveSize;
  let maxBlockBytes = 0;
  for (let r = 0; r < topology.worldSize; r++) {
    const { shard } = rankLayout(topology, r, modelConfig, interleave);
    maxBlockBytes = Math.max(
      maxBlockBytes,
      DeepseekV2Model.kvCacheBytesPerBlock(modelConfig, shard, blockSize, kvDtype === 'f32' ? 4 : 2),
    );
  }
  const numBlocks =
    config.cache.numGpuBlocksOverride ??
    Math.floor((config.cache.kvCacheMemoryBytes ?? o.defaultBytes) / maxBlockBytes);
  if (numBlocks < 2) {
    const names =
      o.names === 'fields'
        ? 'cache.kvCacheMemoryBytes/numGpuBlocksOverride'
        : '--kv-cache-memory-bytes/--num-gpu-blocks-override';
    throw new ConfigError(
      `${names} give ${numBlocks} blocks of ${maxBlockBytes} bytes per rank; at least 2 are needed`,
      { field: 'cache.kvCacheMemoryBytes', flag: '--kv-cache-memory-bytes' },
    );
  }
  const tokenCapacity = (numBlocks - 1) * blockSize * topology.dcp;
  const notices: string[] = [];
  let maxModelLen = config.scheduler.maxModelLen ?? modelConfig.maxPositionEmbeddings;
  if (config.scheduler.maxModelLen === null && maxModelLen > tokenCapacity) {
    notices.push(`max model length capped from ${maxModelLen} to the KV capacity of ${tokenCapacity} tokens`);
    maxModelLen = tokenCapacity;
  }
  return {
    dtype,
    kvDtype,
    blockSize,
    numBlocks,
    tokenCapacity,
    bytesPerRank: numBlocks * maxBlockBytes,
    maxModelLen,
    notices,
  };
}
