/**
 * Loading Hugging Face checkpoints: per-rank slices only, fused-expert checkpoints, f16/bf16
 * conversion, progress reports, and errors that name the tensor.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import { createCpuMlaBackend } from '@dcp/cpu-mla';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32ToBf16, f32ToF16 } from './dtype.js';
import { dummyTensor } from './dummy.js';
import { DeepseekV2Model } from './model.js';
import { modelTensorSpecs } from './names.js';
import { openHfModel, type TensorToWrite, writeSafetensors } from './node.js';
import { fullShard } from './sharding.js';
import type { LoadProgress } from './weight-source.js';

const hf = {
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  q_lora_rank: null,
  kv_lora_rank: 8,
  qk_nope_head_dim: 4,
  qk_rope_head_dim: 4,
  v_head_dim: 4,
  intermediate_size: 12,
  n_routed_experts: 4,
  n_shared_experts: 1,
  num_experts_per_tok: 2,
  moe_intermediate_size: 6,
  first_k_dense_replace: 1,
  vocab_size: 32,
  rope_theta: 10000,
  max_position_embeddings: 64,
  torch_dtype: 'float32',
};
const config: ModelConfig = parseHfModelConfig(hf);
let dir = '';

/** Writes the dummy model as a checkpoint; `fuse` stores routed experts as transformers 5 tensors. */
async function write(
  sub: string,
  fuse: boolean,
  dtype: 'F32' | 'F16' | 'BF16',
  drop?: string,
): Promise<string> {
  const out = join(dir, sub);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const tensors: Record<string, TensorToWrite> = {};
  const enc = (x: Float32Array) => (dtype === 'F32' ? x : dtype === 'F16' ? f32ToF16(x) : f32ToBf16(x));
  const fused = new Map<string, { gu: Float32Array[]; d: Float32Array[] }>();
  for (const t of modelTensorSpecs(config)) {
    if (t.name === drop) continue;
    const data = dummyTensor(9, t.name, t.shape);
    const m = /^(.*\.experts)\.(\d+)\.(\w+)\.weight$/.exec(t.name);
    if (fuse && m) {
      const f = fused.get(m[1]!) ?? { gu: [], d: [] };
      fused.set(m[1]!, f);
      if (m[3] === 'down_proj') f.d.push(data);
      else f.gu.push(data);
      continue;
    }
    tensors[t.name] = { dtype, shape: t.shape, data: enc(data) };
  }
  const cat = (parts: Float32Array[]) => {
    const o = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      o.set(p, off);
      off += p.length;
    }
    return o;
  };
  for (const [prefix, f] of fused) {
    tensors[`${prefix}.gate_up_proj`] = { dtype, shape: [4, 12, 16], data: enc(cat(f.gu)) };
    tensors[`${prefix}.down_proj`] = { dtype, shape: [4, 16, 6], data: enc(cat(f.d)) };
  }
  await writeSafetensors(join(out, 'model.safetensors'), tensors);
  await writeFile(join(out, 'config.json'), JSON.stringify(hf));
  return out;
}

async function logitsOf(
  folder: string,
): Promise<{ logits: Float32Array; progress: LoadProgress[]; bytes: number }> {
  const opened = await openHfModel(folder);
  const progress: LoadProgress[] = [];
  const backend = createCpuMlaBackend();
  const shard = fullShard(config);
  const model = await DeepseekV2Model.load({
    config: opened.config,
    backend,
    shard,
    source: opened.source,
    onProgress: (p) => progress.push(p),
  });
  const bytes = opened.checkpoint.stats.bytesRead;
  await opened.close();
  model.allocateKvCache(2, 8);
  const ids = [3, 1, 4, 1, 5];
  const r = await model.forward({
    tokenIds: ids,
    positions: [0, 1, 2, 3, 4],
    queryLens: [5],
    computedLens: [0],
    blockTables: [[0]],
    slotMapping: [0, 1, 2, 3, 4],
    logitRows: [0, 1, 2, 3, 4],
  });
  return { logits: (await backend.download(r.logits!)) as Float32Array, progress, bytes };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dcp-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Hugging Face checkpoints', () => {
  it('per-expert and fused-expert files load the same model; progress covers every tensor', async () => {
    const a = await logitsOf(await write('split', false, 'F32'));
    const b = await logitsOf(await write('fused', true, 'F32'));
    expect(b.logits).toEqual(a.logits);
    const last = a.progress.at(-1)!;
    expect(last.tensorsDone).toBe(last.tensorsTotal);
    expect(last.tensorsTotal).toBe(modelTensorSpecs(config).length);
    expect(last.bytesDone).toBe(last.bytesTotal);
  });

  it('f16 and bf16 checkpoints convert to f32 close to the f32 model', async () => {
    const ref = (await logitsOf(await write('f32', false, 'F32'))).logits;
    for (const [dt, tol] of [
      ['F16', 2e-3],
      ['BF16', 2e-2],
    ] as const) {
      const got = (await logitsOf(await write(dt, false, dt))).logits;
      let d = 0;
      let m = 0;
      for (let i = 0; i < ref.length; i++) {
        d = Math.max(d, Math.abs(got[i]! - ref[i]!));
        m = Math.max(m, Math.abs(ref[i]!));
      }
      expect(d / m, dt).toBeLessThan(tol);
      expect(d, dt).toBeGreaterThan(0); // it really went through 16 bits
    }
  });

  it('reads only this rank’s slices', async () => {
    const folder = await write('slices', false, 'F32');
    const opened = await openHfModel(folder);
    const header = opened.checkpoint.stats.bytesRead;
    const backend = createCpuMlaBackend();
    const shard = { ...fullShard(config), tpRank: 1, tpSize: 2, isFirstStage: false, layerStart: 1 };
    const tp = createLocalCommunicators(2)[1]!;
    let planned = 0;
    await DeepseekV2Model.load({
      config,
      backend,
      shard,
      source: opened.source,
      comms: { tp: tp as never },
      onProgress: (p) => {
        planned = p.bytesTotal;
      },
    });
    const read = opened.checkpoint.stats.bytesRead - header;
    await opened.close();
    let full = 0;
    for (const t of modelTensorSpecs(config)) full += t.shape.reduce((x, y) => x * y, 1) * 4;
    expect(read).toBe(planned); // exactly this rank's slices (an f32 file: 4 bytes a value)
    expect(read).toBeLessThan(full * 0.6);
  });

  it('a missing tensor or a wrong shape is an error naming it', async () => {
    const missing = await write('missing', false, 'F32', 'model.layers.1.mlp.experts.2.up_proj.weight');
    await expect(logitsOf(missing)).rejects.toThrow(
      /model\.layers\.1\.mlp\.experts\.2\.up_proj\.weight: missing/,
    );
    const folder = await write('shape', false, 'F32');
    await writeFile(join(folder, 'config.json'), JSON.stringify({ ...hf, intermediate_size: 10 }));
    await expect(logitsOf(folder)).rejects.toThrow(
      /model\.layers\.0\.mlp\.gate_proj\.weight: checkpoint shape \[12, 16\] does not match the config's \[10, 16\]/,
    );
  });
});
