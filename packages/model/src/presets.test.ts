/**
 * Presets shipped in the package: `tiny` (the embedded default) and `deepseek-v2-lite` (real
 * shapes). Checks their shapes, the tokenizer pairing, and that dummy weights give peaked logits.
 */
import { readFileSync } from 'node:fs';
import { createCpuMlaBackend } from '@dcp/cpu-mla';
import { describe, expect, it } from 'vitest';
import { DeepseekV2Model } from './model.js';
import { parameterCount } from './names.js';
import { loadPresetConfig, presetDir } from './node.js';
import { ropeTables } from './rope.js';
import { fullShard } from './sharding.js';
import { dummyWeightSource } from './weight-source.js';

describe('presets', () => {
  it('tiny: DeepSeek-V2 shaped, 576-wide latent, a few million parameters, its tokenizer', async () => {
    const c = await loadPresetConfig('tiny');
    expect(c.kvLoraRank + c.qkRopeHeadDim).toBe(576);
    expect(c.numAttentionHeads % 8).toBe(0);
    expect(c.qLoraRank).not.toBeNull();
    expect(c.firstKDenseReplace).toBe(1);
    expect(c.numHiddenLayers).toBeGreaterThan(c.firstKDenseReplace);
    expect(c.nRoutedExperts).toBeGreaterThan(0);
    expect(c.vocabSize).toBe(2048);
    const n = parameterCount(c);
    expect(n).toBeGreaterThan(1e6);
    expect(n).toBeLessThan(1e7);
    const tok = JSON.parse(readFileSync(`${presetDir('tiny')}/tokenizer.json`, 'utf8')) as {
      model: { vocab: Record<string, number> };
    };
    expect(Object.keys(tok.model.vocab).length).toBe(c.vocabSize);
  });

  it('deepseek-v2-lite: the real shapes (15.7B parameters, softmax scale 0.1147)', async () => {
    const c = await loadPresetConfig('deepseek-v2-lite');
    expect(c.hiddenSize).toBe(2048);
    expect(c.numHiddenLayers).toBe(27);
    expect(c.qLoraRank).toBeNull();
    expect(c.nRoutedExperts).toBe(64);
    expect(parameterCount(c) / 1e9).toBeCloseTo(15.71, 1);
    expect(ropeTables(c).softmaxScale).toBeCloseTo(0.1147214, 6);
  });

  it('unknown presets are refused by name', () => {
    expect(() => presetDir('huge')).toThrow(/unknown preset "huge"; choose one of tiny, deepseek-v2-lite/);
  });

  it('tiny with dummy weights gives peaked, position-dependent logits', async () => {
    const config = await loadPresetConfig('tiny');
    const backend = createCpuMlaBackend();
    const model = await DeepseekV2Model.load({
      config,
      backend,
      shard: fullShard(config),
      source: dummyWeightSource(0),
    });
    model.allocateKvCache(4, 16);
    const ids = [0, 17, 300, 1999, 42, 42, 7, 1024];
    const res = await model.forward({
      tokenIds: ids,
      positions: ids.map((_, i) => i),
      queryLens: [ids.length],
      computedLens: [0],
      blockTables: [[0]],
      slotMapping: ids.map((_, i) => i),
      logitRows: ids.map((_, i) => i),
    });
    const logits = (await backend.download(res.logits!)) as Float32Array;
    const v = config.vocabSize;
    const argmaxes = new Set<number>();
    for (let r = 0; r < ids.length; r++) {
      const row = logits.subarray(r * v, (r + 1) * v);
      const max = Math.max(...row);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      expect(1 / z, `top-1 probability of row ${r}`).toBeGreaterThan(20 / v); // far from uniform 1/V
      argmaxes.add(row.indexOf(max));
    }
    expect(argmaxes.size).toBeGreaterThan(3);
    model.dispose();
  });
});
