import { describe, expect, it } from 'vitest';
import type { AttentionBackend, BackendCapabilities, BackendConfig, BackendDescriptor } from './index.js';
import { capabilityReasons, createBackendRegistry, NoBackendError, selectBackend } from './index.js';

const caps: BackendCapabilities = {
  dtypes: ['bf16', 'f32'],
  kvCacheDtypes: ['bf16'],
  blockSizes: [64],
  latentWidths: [576],
  returnsDecodeLse: true,
  decodeLseBase: 'e',
  multiTokenDecode: false,
  interleaveSizes: [1],
  needsGpu: false,
};

const config: BackendConfig = {
  dtype: 'bf16',
  kvCacheDtype: 'bf16',
  blockSize: 64,
  kvLoraRank: 512,
  ropeDim: 64,
  numHeads: 16,
  dcp: 1,
  interleave: 1,
};

/** A descriptor whose factory returns a marker object (selection never calls ops). */
function fake(
  name: string,
  priority: number,
  over: Partial<BackendCapabilities> = {},
  extra?: Partial<BackendDescriptor>,
): BackendDescriptor {
  return {
    name,
    priority,
    capabilities: { ...caps, ...over },
    create: () => ({ name }) as unknown as AttentionBackend,
    ...extra,
  };
}

describe('capabilityReasons', () => {
  it('is empty for a configuration the capabilities allow', () => {
    expect(capabilityReasons(caps, config)).toEqual([]);
  });
  it('names every mismatched field and what would work', () => {
    const r = capabilityReasons(
      { ...caps, returnsDecodeLse: false, needsGpu: true },
      {
        ...config,
        dtype: 'f16',
        kvCacheDtype: 'f32',
        blockSize: 16,
        ropeDim: 32,
        dcp: 2,
        interleave: 4,
        multiTokenDecode: true,
        gpuAvailable: false,
      },
    );
    expect(r).toEqual([
      'dtype f16 not supported (supported: bf16, f32)',
      'kv cache dtype f32 not supported (supported: bf16)',
      'block size 16 not supported (supported: 64)',
      'MLA latent width 544 (kv_lora_rank 512 + qk_rope_head_dim 32) not supported (supported: 576)',
      'decode LSE not returned: cannot run with decode-context-parallel-size 2 > 1 (use --decode-context-parallel-size 1 or another backend)',
      'cp-kv-cache-interleave-size 4 not supported (supported: 1)',
      'multi-token decode (several query tokens per request) not supported',
      'needs a GPU and none is available',
    ]);
  });
  it('accepts multiples for { multipleOf } block sizes', () => {
    const c = { ...caps, blockSizes: [{ multipleOf: 16 }] };
    expect(capabilityReasons(c, { ...config, blockSize: 48 })).toEqual([]);
    expect(capabilityReasons(c, { ...config, blockSize: 40 })[0]).toMatch(
      /block size 40 not supported \(supported: multiples of 16\)/,
    );
  });
});

describe('selectBackend', () => {
  it('picks the highest-priority valid backend and reports the others', async () => {
    const reg = createBackendRegistry();
    reg.register(fake('low', 0));
    reg.register(fake('high-wrong-block', 5, { blockSizes: [128] }));
    reg.register(fake('mid', 2));
    const s = await selectBackend(reg, config);
    expect(s.backend.name).toBe('mid');
    expect(s.rejected).toEqual({ 'high-wrong-block': ['block size 64 not supported (supported: 128)'] });
  });

  it('refuses a backend without decode LSE when dcp > 1, with that reason', async () => {
    const reg = createBackendRegistry();
    reg.register(fake('no-lse', 3, { returnsDecodeLse: false }));
    reg.register(fake('ref', 0));
    expect((await selectBackend(reg, config)).backend.name).toBe('no-lse');
    const s = await selectBackend(reg, { ...config, dcp: 2 });
    expect(s.backend.name).toBe('ref');
    expect(s.rejected['no-lse']![0]).toMatch(
      /decode LSE not returned: cannot run with decode-context-parallel-size 2/,
    );
  });

  it('skips a factory that fails, keeping its message', async () => {
    const reg = createBackendRegistry();
    reg.register(
      fake(
        'gpu',
        9,
        {},
        {
          create: async () => {
            throw new Error('no CUDA device');
          },
        },
      ),
    );
    reg.register(fake('cpu', 0));
    const s = await selectBackend(reg, config);
    expect(s.backend.name).toBe('cpu');
    expect(s.rejected.gpu).toEqual(['initialization failed: no CUDA device']);
  });

  it('adds validateConfiguration reasons (and survives it throwing)', async () => {
    const reg = createBackendRegistry();
    reg.register(
      fake(
        'picky',
        1,
        {},
        { validateConfiguration: (c) => (c.numHeads > 8 ? [`numHeads ${c.numHeads} > 8`] : []) },
      ),
    );
    reg.register(
      fake(
        'broken',
        2,
        {},
        {
          validateConfiguration: () => {
            throw new Error('boom');
          },
        },
      ),
    );
    const err = await selectBackend(reg, config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    expect((err as NoBackendError).reasons).toEqual({
      broken: ['validateConfiguration threw: boom'],
      picky: ['numHeads 16 > 8'],
    });
  });

  it('throws ONE error listing every backend with its reasons when none fits', async () => {
    const reg = createBackendRegistry();
    reg.register(fake('a', 1, { dtypes: ['f32'] }));
    reg.register(fake('b', 0, { blockSizes: [16] }));
    const err = (await selectBackend(reg, config).catch((e: unknown) => e)) as NoBackendError;
    expect(err.message).toContain('No valid attention backend for dtype=bf16');
    expect(err.message).toContain('  - a: dtype bf16 not supported (supported: f32)');
    expect(err.message).toContain('  - b: block size 64 not supported (supported: 16)');
  });

  it('forces a backend by name; an invalid forced one throws with every backend listed', async () => {
    const reg = createBackendRegistry();
    reg.register(fake('fast', 5));
    reg.register(fake('slow', 0, { dtypes: ['f32'] }));
    expect((await selectBackend(reg, { ...config, dtype: 'f32' }, { name: 'slow' })).backend.name).toBe(
      'slow',
    );
    const err = (await selectBackend(reg, config, { name: 'slow' }).catch(
      (e: unknown) => e,
    )) as NoBackendError;
    expect(err.message).toMatch(/^Attention backend 'slow' cannot be used/);
    expect(Object.keys(err.reasons).sort()).toEqual(['fast', 'slow']);
    expect(err.reasons.fast).toEqual([]);
  });

  it('names the registered backends when the forced name is unknown', async () => {
    const reg = createBackendRegistry();
    reg.register(fake('cpu-mla', 0));
    await expect(selectBackend(reg, config, { name: 'flashmla' })).rejects.toThrow(
      /Unknown attention backend 'flashmla'. Registered backends: cpu-mla/,
    );
  });

  it('keeps registries independent and lets a later registration override a name', async () => {
    const r1 = createBackendRegistry();
    const r2 = createBackendRegistry();
    r1.register(fake('x', 0));
    expect(r2.list()).toEqual([]);
    r1.register(fake('x', 7, {}, { create: () => ({ name: 'x2' }) as unknown as AttentionBackend }));
    expect(r1.list().map((d) => d.priority)).toEqual([7]);
    expect((await selectBackend(r1, config)).backend.name).toBe('x2');
    expect(r1.unregister('x')).toBe(true);
    expect(r1.get('x')).toBeUndefined();
  });

  it('rejects malformed descriptors, naming the field', () => {
    const reg = createBackendRegistry();
    expect(() => reg.register({ ...fake('', 0) })).toThrow(/name must be a non-empty string/);
    expect(() => reg.register({ ...fake('p', Number.NaN) })).toThrow(/p: priority must be a finite number/);
  });
});
