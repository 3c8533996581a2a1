import { describe, expect, it } from 'vitest';
import { defaultEngineConfig, worldSize } from './engine-config.js';
import { ConfigError } from './errors.js';
import { makeEngineConfig } from './schema.js';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('makeEngineConfig', () => {
  it('fills the documented defaults', () => {
    const c = makeEngineConfig();
    expect(c).toEqual({
      model: null,
      parallel: { tp: 1, pp: 1, dcp: 1, cpKvCacheInterleaveSize: 1, dcpCommBackend: 'ag_rs' },
      cache: {
        blockSize: 16,
        kvCacheDtype: 'bf16',
        kvCacheMemoryBytes: null,
        numGpuBlocksOverride: null,
        gpuMemoryUtilization: 0.9,
        enablePrefixCaching: true,
      },
      scheduler: {
        maxNumBatchedTokens: 8192,
        maxNumSeqs: 256,
        maxModelLen: null,
        enableChunkedPrefill: true,
      },
      load: { loadFormat: 'auto', dtype: 'auto', seed: 0 },
      attentionBackend: null,
      attentionBackendConfig: null,
      webgpuDevices: null,
      skipTokenizerInit: false,
    });
    expect(defaultEngineConfig()).not.toBe(defaultEngineConfig());
  });

  it('reads strings as numbers (with suffixes) and resolves dtype aliases', () => {
    const c = makeEngineConfig({
      parallel: { tp: '8', dcp: '4', pp: 2 },
      cache: { kvCacheMemoryBytes: '8G', blockSize: '64', enablePrefixCaching: 'false' },
      scheduler: { maxModelLen: '32k' },
      load: { dtype: 'half' },
    });
    expect(c.parallel).toMatchObject({ tp: 8, dcp: 4, pp: 2 });
    expect(c.cache.kvCacheMemoryBytes).toBe(8 * 2 ** 30);
    expect(c.cache.enablePrefixCaching).toBe(false);
    expect(c.scheduler.maxModelLen).toBe(32_000);
    expect(c.load.dtype).toBe('float16');
    expect(c.cache.kvCacheDtype).toBe('fp16');
    expect(worldSize(c.parallel)).toBe(16);
    expect(makeEngineConfig({ cache: { kvCacheDtype: 'float32' } }).cache.kvCacheDtype).toBe('fp32');
    expect(makeEngineConfig({ load: { dtype: 'float' } }).load.dtype).toBe('float32');
    expect(makeEngineConfig({ scheduler: { maxModelLen: 'auto' } }).scheduler.maxModelLen).toBeNull();
  });

  it('names the flag of a field out of range', () => {
    const cases: [Parameters<typeof makeEngineConfig>[0], string, RegExp][] = [
      [
        { parallel: { tp: 0 } },
        'parallel.tp',
        /^-tp\/--tensor-parallel-size: must be an integer >= 1 \(got 0\)$/,
      ],
      [
        { parallel: { pp: 'x' } },
        'parallel.pp',
        /^-pp\/--pipeline-parallel-size: must be an integer >= 1 \(got x\)$/,
      ],
      [
        { parallel: { dcpCommBackend: 'nccl' } },
        'parallel.dcpCommBackend',
        /--dcp-comm-backend: must be one of ag_rs, a2a/,
      ],
      [{ cache: { blockSize: 0 } }, 'cache.blockSize', /--block-size: must be an integer >= 1/],
      [
        { cache: { kvCacheDtype: 'int4' } },
        'cache.kvCacheDtype',
        /--kv-cache-dtype: must be one of auto, bfloat16/,
      ],
      [
        { cache: { gpuMemoryUtilization: 0 } },
        'cache.gpuMemoryUtilization',
        /--gpu-memory-utilization: must be > 0/,
      ],
      [
        { cache: { numGpuBlocksOverride: -3 } },
        'cache.numGpuBlocksOverride',
        /--num-gpu-blocks-override: must be/,
      ],
      [
        { cache: { kvCacheMemoryBytes: '1.5G' } },
        'cache.kvCacheMemoryBytes',
        /--kv-cache-memory-bytes: must be/,
      ],
      [{ scheduler: { maxNumSeqs: 2.5 } }, 'scheduler.maxNumSeqs', /--max-num-seqs: must be an integer/],
      [
        { scheduler: { enableChunkedPrefill: 'yes' } },
        'scheduler.enableChunkedPrefill',
        /must be true or false/,
      ],
      [
        { load: { loadFormat: 'gguf' } },
        'load.loadFormat',
        /--load-format: must be one of auto, safetensors, dummy/,
      ],
      [{ load: { dtype: 'int8' } }, 'load.dtype', /--dtype: must be one of auto, bfloat16, float16, float32/],
      [{ load: { seed: -1 } }, 'load.seed', /--seed: must be an integer >= 0/],
      [{ attentionBackend: '' }, 'attentionBackend', /--attention-backend: must not be empty/],
      [
        { attentionBackend: 'webgpu-mla', webgpuDevices: '0000:06:00.0,gpu1' },
        'webgpuDevices',
        /--webgpu-devices: must be PCI bus IDs like 0000:19:00.0/,
      ],
      [{ attentionBackend: 'webgpu-mla', webgpuDevices: [] }, 'webgpuDevices', /must name at least one/],
      [
        { attentionBackend: 'webgpu-mla', attentionBackendConfig: '{decodeKernel: flash}' },
        'attentionBackendConfig',
        /--attention-backend-config: must be a JSON object \(it does not parse\)/,
      ],
      [
        { attentionBackend: 'webgpu-mla', attentionBackendConfig: '["flash"]' },
        'attentionBackendConfig',
        /--attention-backend-config: must be a JSON object/,
      ],
      [
        { attentionBackendConfig: '{"decodeKernel":"flash"}' },
        'attentionBackendConfig',
        /--attention-backend-config holds the options of one backend: name it with --attention-backend/,
      ],
      [
        { webgpuDevices: '0000:06:00.0' },
        'webgpuDevices',
        /--webgpu-devices .* needs --attention-backend webgpu-mla \(got none\)/,
      ],
    ];
    for (const [input, field, message] of cases) {
      const e = errorOf(() => makeEngineConfig(input));
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('\n');
    }
  });

  it('reads --attention-backend-config as a JSON object (or takes an object)', () => {
    const text = '{"decodeKernel":"flash","dawnFlags":["enable-dawn-features=disable_robustness"]}';
    const c = makeEngineConfig({ attentionBackend: 'webgpu-mla', attentionBackendConfig: text });
    expect(c.attentionBackendConfig).toEqual(JSON.parse(text));
    const o = { hostCache: false };
    expect(
      makeEngineConfig({ attentionBackend: 'x', attentionBackendConfig: o }).attentionBackendConfig,
    ).toEqual(o);
    expect(makeEngineConfig({}).attentionBackendConfig).toBeNull();
  });

  it('reads --webgpu-devices as a comma-separated list of PCI bus IDs', () => {
    const c = makeEngineConfig({
      attentionBackend: 'webgpu-mla',
      webgpuDevices: '00000000:06:00.0, 07:00.0',
    });
    expect(c.webgpuDevices).toEqual(['00000000:06:00.0', '07:00.0']);
    expect(makeEngineConfig({}).webgpuDevices).toBeNull();
  });

  it('refuses an fp8 KV cache as not supported yet', () => {
    for (const dtype of ['fp8', 'fp8_e4m3', 'fp8_e5m2']) {
      const e = errorOf(() => makeEngineConfig({ cache: { kvCacheDtype: dtype } }));
      expect(e.message).toMatch(/--kv-cache-dtype fp8.* is not supported yet/);
      expect(e.flag).toBe('--kv-cache-dtype');
    }
  });

  it('rejects unknown settings by name', () => {
    const input = { parallel: { tp: 2, dpc: 2 } } as unknown as Parameters<typeof makeEngineConfig>[0];
    expect(errorOf(() => makeEngineConfig(input)).message).toMatch(/unknown setting\(s\) dpc in "parallel"/);
  });
});
