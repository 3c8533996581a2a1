import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHfModelConfig } from '@dcp/config';
import { describe, expect, it } from 'vitest';
import {
  BROWN_MODEL_FILES,
  brownBaselinesPath,
  brownEvalReferencePath,
  brownEvalSetPath,
  brownModelDir,
  brownModelUrl,
} from './index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const config = JSON.parse(readFileSync(join(brownModelDir, 'config.json'), 'utf8'));

describe('@dcp/brown-model paths', () => {
  it('point at the checkpoint folder and its four files', () => {
    expect(fileURLToPath(brownModelUrl).replace(/\/$/, '')).toBe(brownModelDir);
    for (const f of BROWN_MODEL_FILES) expect(existsSync(join(brownModelDir, f)), f).toBe(true);
  });

  it('ship the tiny preset tokenizer and the tooling/eval files unchanged', () => {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      expect(readFileSync(join(brownModelDir, f), 'utf8'), f).toBe(
        readFileSync(join(repo, 'packages/model/presets/tiny', f), 'utf8'),
      );
    }
    for (const p of [brownEvalSetPath, brownEvalReferencePath, brownBaselinesPath]) {
      const name = p.split('/').at(-1) as string;
      expect(readFileSync(p, 'utf8'), name).toBe(readFileSync(join(repo, 'tooling/eval', name), 'utf8'));
    }
  });
});

describe('config.json', () => {
  it('has the shape the issue asks for', () => {
    expect(config.model_type).toBe('deepseek_v2');
    expect(config.kv_lora_rank + config.qk_rope_head_dim).toBe(576);
    expect(config.num_attention_heads % 8).toBe(0);
    expect(config.rope_scaling).toBeNull();
    expect(config.max_position_embeddings).toBeGreaterThanOrEqual(4096);
    expect(config.vocab_size).toBe(2048);
    expect(config.topk_method).toBe('greedy');
    expect(config.norm_topk_prob).toBe(false);
    expect(config.first_k_dense_replace).toBeLessThan(config.num_hidden_layers);
    expect(config.n_routed_experts).toBe(8);
  });

  it("reads with dcp's own config reader", () => {
    const m = parseHfModelConfig(config);
    expect(m.kvLoraRank).toBe(512);
    expect(m.qLoraRank).toBeNull();
    expect(m.rope).toEqual({ type: 'default' });
    expect(m.ropeTheta).toBe(10000);
    expect(m.nRoutedExperts).toBe(8);
    expect(m.numExpertsPerTok).toBe(2);
    expect(m.nSharedExperts).toBe(1);
    expect(m.eosTokenIds).toEqual([1]);
    expect(m.torchDtype).toBe('bfloat16');
  });

  it('has the special token ids of the tokenizer', () => {
    const tok = JSON.parse(readFileSync(join(brownModelDir, 'tokenizer.json'), 'utf8'));
    const id = (t: string) => tok.added_tokens.find((a: { content: string }) => a.content === t)?.id;
    expect(config.bos_token_id).toBe(id('<|bos|>'));
    expect(config.eos_token_id).toBe(id('<|eos|>'));
    expect(config.pad_token_id).toBe(id('<|pad|>'));
  });
});
