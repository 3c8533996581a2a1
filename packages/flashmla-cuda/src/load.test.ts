import { createBackendRegistry, NoBackendError, selectBackend } from '@dcp/backend';
import { describe, expect, it } from 'vitest';
import {
  CUDA_UNAVAILABLE_CODES,
  CudaRank,
  CudaUnavailableError,
  loadAddon,
  probeCuda,
  registerFlashMlaCuda,
} from './index.js';
import { runConformanceOnGpu, runGpuChecks } from './testing/index.js';

const load = loadAddon();
const requireTools = process.env.DCP_REQUIRE_SYSTEM_TOOLS === '1';
const probe = probeCuda(load);
const config = {
  dtype: 'bf16',
  kvCacheDtype: 'bf16',
  blockSize: 64,
  kvLoraRank: 512,
  ropeDim: 64,
  numHeads: 16,
  dcp: 2,
  interleave: 1,
  gpuAvailable: probe.available,
} as const;

describe('native addon on this machine', () => {
  it('is built (CI has nvcc; skipped elsewhere with the reason)', (t) => {
    if (!load.ok && !requireTools) t.skip(`addon not built here: ${load.reason}`);
    expect(load.ok, load.ok ? '' : load.reason).toBe(true);
  });

  it('loads without a driver or GPU and reports CUDA unavailable with the reason', (t) => {
    if (!load.ok) t.skip(`addon not built here: ${load.reason}`);
    if (probe.available)
      t.skip(`a GPU is present (${probe.devices[0]?.name}); the no-GPU path does not apply`);
    expect(probe.available).toBe(false);
    expect(CUDA_UNAVAILABLE_CODES).toContain(probe.code);
    expect(probe.reason).toMatch(/CUDA error (35|100|999|3|34) /);
    expect(probe.deviceCount).toBe(0);
    expect(() => CudaRank.create(0, load)).toThrow(CudaUnavailableError);
  });

  it('registers but is never selected without CUDA, and selection says why', async (t) => {
    if (!load.ok) t.skip(`addon not built here: ${load.reason}`);
    if (probe.available) t.skip('a GPU is present');
    const registry = createBackendRegistry();
    const r = registerFlashMlaCuda(registry, { load: () => load });
    expect(r.available).toBe(false);
    const err = await selectBackend(registry, config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    const reasons = (err as NoBackendError).reasons['flashmla-cuda'] ?? [];
    expect(reasons.join('\n')).toContain('needs a GPU and none is available');
    expect(reasons.join('\n')).toContain(`CUDA unavailable: ${probe.reason}`);
    expect((err as Error).message).toContain('flashmla-cuda: ');
  });

  it('passes the GPU kernel checks and the conformance suite when a GPU is present', async (t) => {
    if (!probe.available) t.skip(`no GPU: ${probe.reason}`);
    const rank = CudaRank.create(0, load);
    try {
      const results = await runGpuChecks(rank, 99, false);
      const bad = results.filter((x) => !x.ok).map((x) => `${x.name}: ${x.detail}`);
      expect(bad).toEqual([]);
      const report = await runConformanceOnGpu(rank, 99);
      expect(
        report.results.filter((x) => x.status === 'failed').map((x) => `${x.name}: ${x.detail}`),
      ).toEqual([]);
      expect(report.passed).toBeGreaterThan(0);
    } finally {
      rank.dispose();
    }
  });
});

describe('without the addon', () => {
  it('a missing addon is reported as unavailable, with where it looked', () => {
    const missing = loadAddon(['/nonexistent/flashmla_cuda.node']);
    expect(missing.ok).toBe(false);
    const p = probeCuda(missing);
    expect(p.available).toBe(false);
    expect(p.reason).toContain('/nonexistent/flashmla_cuda.node');
    expect(() => CudaRank.create(0, missing)).toThrow(/CUDA unavailable: native addon not found/);
  });

  it('an addon that fails to load is reported, not thrown', () => {
    for (const file of ['../Makefile', '../package.json']) {
      const broken = loadAddon([new URL(file, import.meta.url).pathname]);
      expect(broken.ok).toBe(false);
      if (!broken.ok) expect(broken.reason).toMatch(/failed to load/);
    }
  });

  it('a forced selection names the reason even when CUDA exists but ops are missing', async () => {
    const fake = {
      ok: true as const,
      path: 'fake.node',
      addon: {
        probe: () => ({
          available: true,
          code: 0,
          reason: '',
          deviceCount: 1,
          driverVersion: 13000,
          runtimeVersion: 13000,
          devices: [{ name: 'fake', computeCapability: '9.0', smCount: 132, l2Bytes: 1, totalBytes: 1 }],
        }),
        NativeRank: class {} as never,
        headDimQK: 576,
        headDimV: 512,
      },
    };
    const registry = createBackendRegistry();
    expect(registerFlashMlaCuda(registry, { load: () => fake })).toEqual({ available: true, reason: '' });
    const err = await selectBackend(
      registry,
      { ...config, gpuAvailable: true },
      { name: 'flashmla-cuda' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoBackendError);
    expect((err as NoBackendError).reasons['flashmla-cuda']?.join(' ')).toMatch(
      /ops not implemented yet.*linear/,
    );
  });
});
