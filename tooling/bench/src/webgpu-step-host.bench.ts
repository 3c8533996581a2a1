/**
 * @dcp/webgpu-mla: host cost of whole model steps. The `tiny` preset (3 layers, bf16) decodes one
 * token at context 64, `N` steps queued back to back (argmax kept on the GPU, one download per
 * round): on a real GPU its kernels take microseconds, so ms/step is the host's launch cost of a
 * decode step (~57 dispatches per layer), the part of a V2-Lite b1 step that does not shrink with
 * a faster GPU. Prints the encode time and the time until the round's download per step.
 *
 * To compare two versions of the backend, bundle this file from each commit and alternate the
 * bundles in one session (tooling/bench/results/webgpu-model-h200.md, 05:50 UTC run):
 *   pnpm exec tsup tooling/bench/src/webgpu-step-host.bench.ts --format esm --external webgpu \
 *     --target node20 --no-config --out-dir OUT
 * Run: pnpm --filter @dcp/bench exec tsx src/webgpu-step-host.bench.ts [steps per round, 100]
 */
import { parseHfModelConfig } from '@dcp/config';
import { DeepseekV2Model, dummyWeightSource, fullShard } from '@dcp/model';
import { slotMapping } from '@dcp/parallel-state';
import { platformDescriptor, type WebGpuTensor } from '@dcp/webgpu-mla';
import tinyJson from '../../../packages/model/presets/tiny/config.json' with { type: 'json' };

const N = Number(process.argv[2] ?? 100);
if (!(Number.isInteger(N) && N > 0))
  throw new Error(`steps per round must be a positive integer, got ${process.argv[2]}`);
const d = platformDescriptor({ allowSoftware: true });
const b = await d.create({ config: undefined as never });
const config = parseHfModelConfig(tinyJson);
const model = await DeepseekV2Model.load({
  config,
  backend: b,
  shard: fullShard(config),
  source: dummyWeightSource(1),
  dtype: 'bf16',
});
const BLOCK = 16;
const CTX = 64;
const per = Math.ceil((CTX + 1) / BLOCK);
model.allocateKvCache(per + 1, BLOCK, 'bf16');
const table = Array.from({ length: per }, (_, j) => j);
const batch = {
  tokenIds: [5],
  positions: [CTX],
  queryLens: [1],
  computedLens: [CTX],
  blockTables: [table],
  slotMapping: [...slotMapping([CTX], table, { dcp: 1, dcpRank: 0, interleave: 1, blockSize: BLOCK })],
};
console.log(
  `adapter: ${(await d.probe()).description}; tiny, ${config.numHiddenLayers} layers, b1 decode, ${N} steps per round`,
);
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  let last: WebGpuTensor | null = null;
  for (let i = 0; i < N; i++) {
    const res = await model.forward(batch);
    const am = b.alloc([1], 'i32');
    b.argmax(res.logits! as WebGpuTensor, am);
    b.dispose(res.logits! as WebGpuTensor);
    if (last) b.dispose(last);
    last = am;
  }
  const encode = performance.now() - t;
  await b.download(last!);
  b.dispose(last!);
  const total = performance.now() - t;
  console.log(
    `round ${r}: encode ${(encode / N).toFixed(2)} ms/step, until done ${(total / N).toFixed(2)} ms/step`,
  );
}
model.dispose();
await d.close();
process.exit(0);
