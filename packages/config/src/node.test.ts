import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadHfModelConfig } from './node.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcp-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadHfModelConfig', () => {
  it('reads config.json from a folder or a file path', async () => {
    const json = {
      model_type: 'deepseek_v2',
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      q_lora_rank: null,
      kv_lora_rank: 32,
      qk_nope_head_dim: 16,
      qk_rope_head_dim: 8,
      v_head_dim: 16,
      intermediate_size: 128,
      max_position_embeddings: 256,
      vocab_size: 300,
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(json));
    const fromFolder = await loadHfModelConfig(dir);
    expect(fromFolder.numAttentionHeads).toBe(4);
    expect(fromFolder.rope).toEqual({ type: 'default' });
    expect(await loadHfModelConfig(join(dir, 'config.json'))).toEqual(fromFolder);
  });

  it('names the path when the file is missing or not JSON', async () => {
    await expect(loadHfModelConfig(join(dir, 'nope'))).rejects.toThrow(/nope does not exist/);
    const bad = join(dir, 'bad');
    await writeFile(join(dir, 'bad.json'), '{ not json');
    await expect(loadHfModelConfig(`${bad}.json`)).rejects.toThrow(ConfigError);
    await expect(loadHfModelConfig(`${bad}.json`)).rejects.toThrow(/bad\.json: not valid JSON/);
  });
});
