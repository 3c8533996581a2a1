import { conformanceCases, formatConformanceReport, runConformance } from '@dcp/backend/testing';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, describe, expect, it } from 'vitest';
import { wrapHostCommunicator } from './comm.js';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const descriptor = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(descriptor);
const communicators = (size: number) => createLocalCommunicators(size).map(wrapHostCommunicator);

describe.skipIf(!adapter)(`webgpu-mla conformance on ${adapter?.description ?? 'no adapter'}`, () => {
  afterAll(() => descriptor.close());
  // CPU Vulkan runs at ~1 GFLOP/s: the simulated-rank cases use DCP sizes 1, 2 and 4.
  for (const c of conformanceCases({ descriptor, communicators, dcpSizes: [1, 2, 4] })) {
    if (c.skip !== undefined) it.skip(`${c.name} (${c.skip})`, c.run);
    else it(c.name, c.run, 120_000);
  }
});

describe.skipIf(!adapter)('the suite judges a broken webgpu backend', () => {
  it('fails a backend whose decode LSE is shifted', async () => {
    const broken = {
      ...descriptor,
      name: 'broken-webgpu',
      create: async () => {
        const b = await descriptor.create({ config: undefined as never });
        return {
          ...b,
          mlaDecode: (...a: Parameters<typeof b.mlaDecode>) => {
            b.mlaDecode(...a);
            b.add(a[5], a[5], a[5]);
          },
        };
      },
    };
    const report = await runConformance({
      descriptor: broken,
      communicators,
      dcpSizes: [2],
      filters: [
        {
          match: /^(memory|data|dense|moe|cache|merge|dcp\/prefill|attention\/varlen)/,
          reason: 'only decode is judged here',
        },
      ],
    });
    expect(report.failed, formatConformanceReport(report)).toBeGreaterThan(0);
    expect(report.results.find((r) => r.name === 'attention/mlaDecode kv=f32')?.status).toBe('failed');
  });
});
