import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from './checkpoint.js';
import { SafetensorsError } from './errors.js';
import { rng, tempDir } from './test-util.js';
import { writeSafetensors } from './writer.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const rand = rng(11);
const vals = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);

async function sharded(name: string, index: unknown, shards: Record<string, Record<string, Float32Array>>) {
  const d = join(dir, name);
  await import('node:fs/promises').then((fs) => fs.mkdir(d, { recursive: true }));
  for (const [file, tensors] of Object.entries(shards)) {
    const entries = Object.fromEntries(
      Object.entries(tensors).map(([k, v]) => [
        k,
        { dtype: 'F32' as const, shape: [v.length / 4, 4], data: v },
      ]),
    );
    await writeSafetensors(join(d, file), entries);
  }
  if (index !== undefined) {
    await writeFile(
      join(d, 'model.safetensors.index.json'),
      typeof index === 'string' ? index : JSON.stringify(index),
    );
  }
  return d;
}

describe('openCheckpoint', () => {
  it('reads a sharded checkpoint through its index, slices included', async () => {
    const a = vals(16);
    const b = vals(32);
    const c = vals(8);
    const d = await sharded(
      'two',
      {
        metadata: { total_size: 224 },
        weight_map: { a: 's1.safetensors', b: 's2.safetensors', c: 's1.safetensors' },
      },
      { 's1.safetensors': { a, c }, 's2.safetensors': { b } },
    );
    const ck = await openCheckpoint(d);
    expect(ck.files.length).toBe(2);
    expect([...ck.names].sort()).toEqual(['a', 'b', 'c']);
    expect(ck.fileOf('b').path).toBe(join(d, 's2.safetensors'));
    expect([...(await ck.readF32('a'))]).toEqual([...a]);
    expect([...(await ck.readF32('b', { rows: [2, 5] }))]).toEqual([...b.subarray(8, 20)]);
    const col = await ck.readF32('c', { cols: [1, 3] });
    expect([...col]).toEqual([c[1], c[2], c[5], c[6]]);
    expect(ck.info('b').shape).toEqual([8, 4]);
    expect(ck.has('zzz')).toBe(false);
    await expect(ck.readF32('zzz')).rejects.toThrow(/no such tensor/);
    expect(ck.stats.bytesRead).toBeGreaterThan(0);
    await ck.close();
  });

  it('reads a single model.safetensors when there is no index', async () => {
    const a = vals(12);
    const d = await sharded('single', undefined, { 'model.safetensors': { a } });
    const ck = await openCheckpoint(d);
    expect([...(await ck.readF32('a'))]).toEqual([...a]);
    await ck.close();
  });

  it('rejects bad indexes and missing files with the file named', async () => {
    const a = vals(4);
    const cases: Array<[unknown, RegExp]> = [
      ['{ not json', /index is not valid JSON/],
      [{ metadata: {} }, /no weight_map object/],
      [{ weight_map: { a: '../evil.safetensors' } }, /is not a file name in this folder/],
      [{ weight_map: { a: 7 } }, /is not a file name/],
      [{ weight_map: { a: 'missing.safetensors' } }, /missing.safetensors: cannot open/],
      [
        { weight_map: { a: 's1.safetensors', b: 's1.safetensors' } },
        /listed in model.safetensors.index.json is missing/,
      ],
    ];
    let i = 0;
    for (const [index, pattern] of cases) {
      const d = await sharded(`bad${i++}`, index, { 's1.safetensors': { a } });
      const err = await openCheckpoint(d).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(index)).toBeInstanceOf(SafetensorsError);
      expect((err as SafetensorsError).message).toMatch(pattern);
    }
    await expect(openCheckpoint(join(dir, 'nothing-here'))).rejects.toThrow(
      /neither model.safetensors.index.json nor/,
    );
  });
});

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');

describe('the reference fixtures', () => {
  for (const name of ['dense-qlora', 'moe-greedy', 'moe-grouped-yarn', 'tied-yarn-bf16', 'latent576']) {
    it(`${name}: every tensor reads, with shapes from config.json`, async () => {
      const cfg = JSON.parse(await readFile(join(fixtures, name, 'config.json'), 'utf8'));
      const ck = await openCheckpoint(join(fixtures, name));
      const emb = ck.info('model.embed_tokens.weight');
      expect(emb.shape).toEqual([cfg.vocab_size, cfg.hidden_size]);
      expect(ck.has('lm_head.weight')).toBe(!cfg.tie_word_embeddings);
      const latent = ck.info('model.layers.0.self_attn.kv_a_proj_with_mqa.weight');
      expect(latent.shape).toEqual([cfg.kv_lora_rank + cfg.qk_rope_head_dim, cfg.hidden_size]);
      const last = cfg.num_hidden_layers - 1;
      expect(ck.has(`model.layers.${last}.mlp.experts.${cfg.n_routed_experts - 1}.down_proj.weight`)).toBe(
        last >= cfg.first_k_dense_replace,
      );
      for (const t of ck.names) {
        const v = await ck.readF32(t);
        expect(v.length).toBe(ck.info(t).numel);
        expect(v.every(Number.isFinite), t).toBe(true);
      }
      await ck.close();
    });
  }
});
