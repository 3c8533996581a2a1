// Runs every GPU correctness check and prints one line per check, then `N passed, N failed`.
// Usage (after build): node scripts/gpu-check.mjs   (exit 1 on any failure or no GPU)
import { CudaRank, probeCuda } from '../dist/index.js';
import { runGpuChecks } from '../dist/testing.js';

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
rank.dispose();
const failed = results.filter((r) => !r.ok).length;
console.log(`checks took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
