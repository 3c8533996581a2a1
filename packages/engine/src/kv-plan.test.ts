import { ConfigError, defaultEngineConfig, type EngineConfig } from '@dcp/config';
import { loadPresetConfig } from '@dcp/model/node';
import { makeTopology } from '@dcp/parallel-state';
import { describe, expect, it } from 'vitest';
import { planKvCache } from './kv-plan.js';
import { DEFAULT_WEB_KV_BYTES, planKvCache as planWebKvCache } from './web/kv-plan.js';

// tiny: 3 layers, latent 512 + 64 per token and layer.
const LATENT = 512 + 64;

function config(over: (c: EngineConfig) => void): EngineConfig {
  const c = defaultEngineConfig();
  c.parallel = { tp: 2, pp: 2, dcp: 2, cpKvCacheInterleaveSize: 1, dcpCommBackend: 'ag_rs' };
  c.cache.blockSize = 16;
  over(c);
  return c;
}

describe('planKvCache (the one KV sizing of the Node and web engines)', () => {
  it('sizes blocks by the rank with the most layers, ×dcp tokens, and caps an open max model length', async () => {
    const mc = await loadPresetConfig('tiny');
    const topology = makeTopology({ tp: 2, pp: 2, dcp: 2 });
    const c = config((c) => {
      c.load.dtype = 'bfloat16';
      c.cache.kvCacheMemoryBytes = 1 << 20;
    });
    const plan = planKvCache(c, mc, topology, { defaultBytes: 123 });
    // pp 2 over 3 layers: the larger stage holds 2; bf16 = 2 bytes a value.
    const perBlock = 2 * 16 * LATENT * 2;
    const blocks = Math.floor(2 ** 20 / perBlock);
    expect(plan).toMatchObject({ dtype: 'bf16', kvDtype: 'bf16', blockSize: 16, numBlocks: blocks });
    expect(plan.bytesPerRank).toBe(blocks * perBlock);
    expect(plan.tokenCapacity).toBe((blocks - 1) * 16 * 2);
    expect(plan.maxModelLen).toBe(plan.tokenCapacity);
    expect(plan.notices).toEqual([
      `max model length capped from 8192 to the KV capacity of ${plan.tokenCapacity} tokens`,
    ]);
  });

  it('takes the default memory and the KV dtype; a given max model length stays', async () => {
    const mc = await loadPresetConfig('tiny');
    const topology = makeTopology({ tp: 1, pp: 1, dcp: 1 });
    const c = config((c) => {
      c.parallel = { tp: 1, pp: 1, dcp: 1, cpKvCacheInterleaveSize: 1, dcpCommBackend: 'ag_rs' };
      c.load.dtype = 'float16';
      c.cache.kvCacheDtype = 'fp32';
      c.scheduler.maxModelLen = 100_000;
    });
    const plan = planWebKvCache(c, mc, topology);
    const perBlock = 3 * 16 * LATENT * 4;
    expect(plan).toMatchObject({ dtype: 'f16', kvDtype: 'f32', maxModelLen: 100_000, notices: [] });
    expect(plan.numBlocks).toBe(Math.floor(DEFAULT_WEB_KV_BYTES / perBlock));
  });

  it('refuses fewer than 2 blocks, naming the flags (Node) or the config fields (web)', async () => {
    const mc = await loadPresetConfig('tiny');
    const topology = makeTopology({ tp: 2, pp: 2, dcp: 2 });
    const c = config((c) => {
      c.cache.numGpuBlocksOverride = 1;
    });
    expect(() => planKvCache(c, mc, topology, { defaultBytes: 1 << 20 })).toThrow(
      /^--kv-cache-memory-bytes\/--num-gpu-blocks-override give 1 blocks of \d+ bytes per rank; at least 2 are needed$/,
    );
    expect(() => planWebKvCache(c, mc, topology)).toThrow(
      /^cache\.kvCacheMemoryBytes\/numGpuBlocksOverride give 1 blocks/,
    );
    expect(() => planKvCache(c, mc, topology, { defaultBytes: 1 << 20 })).toThrow(ConfigError);
  });
});
