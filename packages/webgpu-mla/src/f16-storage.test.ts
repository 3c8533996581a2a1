/**
 * 16-bit storage: which bindings the kernels declare as native `array<f16>` (f16 outputs, where
 * the device has `shader-f16`) and which stay packed in u32; a segmented binding's declarations;
 * and a bf16 checkpoint loaded into an f16 model on WebGPU (bf16 → f32 → f16 on upload, native
 * and packed f16), whose logits must follow cpu-mla's f32 run of the same checkpoint.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttentionBackend, DType, Tensor } from '@dcp/backend';
import { f16ToF32 } from '@dcp/backend';
import { parseHfModelConfig } from '@dcp/config';
import { createCpuMlaBackend } from '@dcp/cpu-mla';
import { DeepseekV2Model, dummyTensor, f32ToBf16, fullShard, modelTensorSpecs } from '@dcp/model';
import { openHfModel, type TensorToWrite, writeSafetensors } from '@dcp/model/node';
import { afterAll, describe, expect, it } from 'vitest';
import type { Access } from './bindings.js';
import { platformDescriptor } from './node.js';
import { wgsl } from './run.js';
import { makeTensor, type Owner } from './tensor.js';
import { adapterOrSkip } from './test-adapter.js';

/** A tensor handle over `buffers` placeholder buffers (enough for code generation). */
function fake(dtype: DType, buffers = 1, segWords = 64) {
  const storage = {
    buffers: Array(buffers).fill({}) as GPUBuffer[],
    segWords,
    owner: {} as Owner,
    disposed: false,
  };
  return makeTensor(storage, [buffers * segWords], dtype);
}

function kernelCode(dtype: DType, access: Access, native: boolean): string {
  return wgsl(
    {
      binds: [
        { name: 's', t: fake('f32') },
        { name: 'd', t: fake(dtype), access },
      ],
      body: '',
      threads: 1,
    },
    native,
  );
}

describe('binding declarations', () => {
  it('declares f16 outputs as array<f16> only on a native-f16 device', () => {
    for (const access of ['write', 'rw'] as const) {
      const code = kernelCode('f16', access, true);
      expect(code.startsWith('enable f16;')).toBe(true);
      expect(code).toContain('var<storage, read_write> B_d: array<f16>;');
      expect(code).toContain('fn st_d(i: u32, v: f32) { B_d[o_d() + i] = f16(v); }');
      expect(kernelCode('f16', access, false)).not.toContain('f16;');
    }
    // bf16 outputs, f16 inputs and raw word writers stay packed.
    for (const [dtype, access] of [
      ['bf16', 'write'],
      ['f16', 'read'],
      ['f16', 'raw'],
    ] as const) {
      const code = kernelCode(dtype, access, true);
      expect(code).not.toContain('enable f16');
      expect(code).toContain(`B_d: array<u32>;`);
    }
    expect(kernelCode('f16', 'atomic', true)).toContain('B_d: array<atomic<u32>>;');
  });

  it('declares every buffer of a segmented tensor, numbering the bindings after it', () => {
    const code = wgsl(
      {
        binds: [
          { name: 'c', t: fake('bf16', 3, 1000) },
          { name: 'd', t: fake('f32'), access: 'write' },
        ],
        body: '',
        threads: 1,
      },
      false,
    );
    for (const [k, line] of [
      'B_c_0: array<u32>',
      'B_c_1: array<u32>',
      'B_c_2: array<u32>',
      'B_d: array<u32>',
    ].entries()) {
      expect(code).toContain(
        `@group(0) @binding(${k + 1}) var<storage, ${k < 3 ? 'read' : 'read_write'}> ${line};`,
      );
    }
    expect(code).toContain('const SEG_c = 1000u;');
    // A tensor in one buffer has no segment helpers.
    expect(code).not.toContain('SEG_d');
  });
});

const hf = {
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  q_lora_rank: null,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  intermediate_size: 24,
  n_routed_experts: 4,
  n_shared_experts: 1,
  num_experts_per_tok: 2,
  moe_intermediate_size: 12,
  first_k_dense_replace: 1,
  vocab_size: 64,
  rope_theta: 10000,
  max_position_embeddings: 64,
  torch_dtype: 'bfloat16',
};

const descriptors = {
  native: platformDescriptor({ allowSoftware: true }),
  packed: platformDescriptor({ allowSoftware: true, f16Storage: 'packed' }),
};
const adapter = await adapterOrSkip(descriptors.native);

describe.skipIf(!adapter)('a bf16 checkpoint in an f16 model', () => {
  let dir = '';
  afterAll(async () => {
    await Promise.all(Object.values(descriptors).map((d) => d.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Logits of the prompt, every row, from the checkpoint in `dir`. */
  async function logits(
    backend: AttentionBackend<Tensor, unknown>,
    dtype: 'f32' | 'f16',
  ): Promise<Float32Array> {
    const opened = await openHfModel(dir);
    const config = opened.config;
    const model = await DeepseekV2Model.load({
      config,
      backend,
      shard: fullShard(config),
      source: opened.source,
      dtype,
    });
    await opened.close();
    model.allocateKvCache(4, 4, dtype);
    const ids = [3, 1, 4, 1, 5, 9, 2];
    const r = await model.forward({
      tokenIds: ids,
      positions: ids.map((_, i) => i),
      queryLens: [ids.length],
      computedLens: [0],
      blockTables: [[2, 0]],
      slotMapping: ids.map((_, i) => (i < 4 ? 8 + i : i - 4)),
      logitRows: ids.map((_, i) => i),
    });
    const raw = await backend.download(r.logits!);
    return raw instanceof Float32Array ? raw : f16ToF32(raw as Uint16Array);
  }

  it('loads converted to f16 on upload (native and packed) and follows the f32 run', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dcp-webgpu-bf16-'));
    const config = parseHfModelConfig(hf);
    const tensors: Record<string, TensorToWrite> = {};
    for (const t of modelTensorSpecs(config)) {
      tensors[t.name] = { dtype: 'BF16', shape: t.shape, data: f32ToBf16(dummyTensor(5, t.name, t.shape)) };
    }
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await writeFile(join(dir, 'config.json'), JSON.stringify(hf));
    const ref = await logits(createCpuMlaBackend() as never, 'f32');
    let scale = 0;
    for (const v of ref) scale = Math.max(scale, Math.abs(v));
    for (const [mode, d] of Object.entries(descriptors)) {
      const b = await d.create({ config: undefined as never });
      expect(b.layout.nativeF16, mode).toBe(mode === 'native' && adapter!.features.shaderF16);
      const got = await logits(b as never, 'f16');
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
      expect(err / scale, mode).toBeLessThan(5e-3);
      expect(err, `${mode}: really computed in f16`).toBeGreaterThan(0);
      b.destroy();
    }
  }, 300_000);
});
