/**
 * The walk-through in @dcp/backend's README, run as written (against the built packages).
 */
import {
  type BackendConfig,
  type BackendDescriptor,
  type BackendRegistry,
  createBackendRegistry,
  selectBackend,
} from '@dcp/backend';
import { formatConformanceReport, runConformance } from '@dcp/backend/testing';
import { type CpuTensor, cpuMlaCapabilities, createCpuMlaBackend, registerCpuMla } from '@dcp/cpu-mla';
import { expect, it } from 'vitest';

it('README walk-through: describe, register, select, run the suite', async () => {
  // --- README example start
  // 1. Describe the backend: what it supports, and the reasons it cannot serve a config.
  const tinyDescriptor: BackendDescriptor<CpuTensor> = {
    name: 'tiny',
    priority: 1,
    capabilities: {
      ...cpuMlaCapabilities,
      dtypes: ['f32'],
      kvCacheDtypes: ['f32'],
      blockSizes: [16, 64],
    },
    validateConfiguration: (c) =>
      c.numHeads > 64 ? [`numHeads ${c.numHeads} > 64: the decode kernel keeps all heads in one tile`] : [],
    // 2. Create an instance per rank. Here: the reference backend with one kernel replaced.
    create: () => {
      const base = createCpuMlaBackend();
      return {
        ...base,
        name: 'tiny',
        siluMul(x, out) {
          const X = x.data as Float32Array;
          const O = out.data as Float32Array;
          const I = out.shape[out.shape.length - 1]!;
          for (let t = 0; t < O.length / I; t++) {
            for (let i = 0; i < I; i++) {
              const g = X[t * 2 * I + i]!;
              O[t * I + i] = (g / (1 + Math.exp(-g))) * X[t * 2 * I + I + i]!;
            }
          }
        },
      };
    },
  };
  // 3. Export a register function; applications call it on their registry.
  function registerTiny(registry: BackendRegistry): void {
    registry.register(tinyDescriptor);
  }

  const registry = createBackendRegistry();
  registerCpuMla(registry);
  registerTiny(registry);
  const config: BackendConfig = {
    dtype: 'bf16',
    kvCacheDtype: 'bf16',
    blockSize: 16,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 16,
    dcp: 2,
    interleave: 1,
  };
  const { backend, rejected } = await selectBackend(registry, config);
  console.log(backend.name, rejected);
  // cpu-mla { tiny: [ 'dtype bf16 not supported (supported: f32)',
  //                   'kv cache dtype bf16 not supported (supported: f32)' ] }

  // 4. Run the conformance suite against the new backend and read the report.
  const report = await runConformance({
    descriptor: tinyDescriptor,
    dcpSizes: [1, 2],
    filters: [{ match: 'moe/', reason: 'MoE is not implemented yet in tiny' }],
  });
  console.log(formatConformanceReport(report));
  // --- README example end

  expect(backend.name).toBe('cpu-mla');
  expect(rejected).toEqual({
    tiny: ['dtype bf16 not supported (supported: f32)', 'kv cache dtype bf16 not supported (supported: f32)'],
  });
  expect(report.failed).toBe(0);
  expect(report.skipped).toBe(4);
  expect(formatConformanceReport(report)).toMatch(
    /^conformance of backend 'tiny' \(seed 1234\): \d+ passed, 0 failed, 4 skipped/,
  );
});
