// On a GPU host: runs every kernel check against float64 references, then @dcp/backend/testing's
// conformance suite, and prints `N passed, N failed` last. Exit 1 on any failure or no GPU.
// Usage (after build): node scripts/gpu-check.mjs
import { formatConformanceReport } from '@dcp/backend/testing';
import { CudaRank, probeCuda } from '../dist/index.js';
import { runConformanceOnGpu, runGpuChecks } from '../dist/testing.js';

const p = probeCuda();
if (!p.available) {
  console.error(`no GPU: ${p.reason}`);
  process.exit(1);
}
console.log(`device: ${p.devices[0]?.name} (${p.devices[0]?.smCount} SMs), addon ${p.addonPath}`);
const rank = CudaRank.create(0);
const t0 = performance.now();
const results = await runGpuChecks(rank, Number(process.env.SEED ?? 1234));
for (const r of results) {
  console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  err ${r.err.toExponential(2)}  ${r.detail}`);
}
const t1 = performance.now();
const report = await runConformanceOnGpu(rank, Number(process.env.SEED ?? 1234));
console.log(formatConformanceReport(report));
await rank.synchronize();
rank.dispose();
const failed = results.filter((r) => !r.ok).length + report.failed;
const passed = results.length - results.filter((r) => !r.ok).length + report.passed;
console.log(
  `kernel checks ${((t1 - t0) / 1000).toFixed(1)} s, conformance ${((performance.now() - t1) / 1000).toFixed(1)} s`,
);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
