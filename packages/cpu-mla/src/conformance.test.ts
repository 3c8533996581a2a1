import { conformanceCases, formatConformanceReport, runConformance } from '@dcp/backend/testing';
import { describe, expect, it } from 'vitest';
import { type CpuMlaBackend, cpuMlaDescriptor, createCpuMlaBackend } from './backend.js';

// The reference backend runs the whole suite with no filters.
describe('cpu-mla conformance', () => {
  for (const c of conformanceCases({ descriptor: cpuMlaDescriptor })) {
    if (c.skip !== undefined) it.skip(`${c.name} (${c.skip})`, c.run);
    else it(c.name, c.run);
  }
});

describe('the suite judges a broken backend', () => {
  // A copy of cpu-mla whose rmsNorm uses the wrong eps and whose decode LSE is off by one.
  const broken = {
    ...cpuMlaDescriptor,
    name: 'broken-cpu',
    create: () => {
      const b = createCpuMlaBackend();
      return {
        ...b,
        name: 'broken-cpu',
        rmsNorm: (x, w, _eps, out) => b.rmsNorm(x, w, 0.5, out),
        mlaDecode: (q, cache, meta, scale, out, lse) => {
          b.mlaDecode(q, cache, meta, scale, out, lse);
          const d = lse.data as Float32Array;
          for (let i = 0; i < d.length; i++) d[i] = d[i]! + 1;
        },
      } satisfies CpuMlaBackend;
    },
  };

  it('reports failures and filtered cases with their reasons', async () => {
    const report = await runConformance({
      descriptor: broken,
      dcpSizes: [2],
      filters: [{ match: 'dcp/prefill', reason: 'not needed for this check' }],
    });
    const failed = report.results.filter((r) => r.status === 'failed').map((r) => r.name);
    expect(failed).toContain('dense/rmsNorm f32');
    expect(failed).toContain('attention/mlaDecode kv=f32');
    // A constant LSE shift cancels in the merged output but not in the returned global LSE.
    const dcp = report.results.find((r) => r.name === 'dcp/decode W=2 I=1 ag_rs');
    expect(dcp?.status).toBe('failed');
    expect(dcp?.detail).toMatch(/rank 0 global LSE/);
    expect(report.results.find((r) => r.name === 'dense/linear x=f32 w=f32')?.status).toBe('passed');
    expect(report.skipped).toBe(1);
    const text = formatConformanceReport(report);
    expect(text).toMatch(
      /^conformance of backend 'broken-cpu' \(seed 1234\): \d+ passed, \d+ failed, 1 skipped/,
    );
    expect(text).toContain('SKIP dcp/prefill-with-context W=2 — not needed for this check');
    expect(text).toMatch(/FAIL dense\/rmsNorm f32\n\s+rmsNorm: error .* > tolerance 0.0001/);
  });

  it('refuses a filter without a reason', () => {
    expect(() =>
      conformanceCases({ descriptor: cpuMlaDescriptor, filters: [{ match: 'dense', reason: ' ' }] }),
    ).toThrow(/needs a reason comment/);
  });
});
