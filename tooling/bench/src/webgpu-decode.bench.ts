/**
 * @dcp/webgpu-mla: MLA decode attention bandwidth against a WGSL streaming ceiling, in one run.
 *
 * Ceiling: the faster of a vec4 stream copy (`streamCopy`) and the backend's scalar `add` over
 * 256 MiB tensors. Decode: `mlaDecode` over a bf16 paged latent cache (576-wide rows,
 * 512 value columns, 64-token blocks) for DeepSeek-V2-Lite (16 heads) and V2 (128 heads) shapes.
 * Both are timed the same way: warm-up, then R back-to-back calls closed by one small download,
 * median of 5 rounds. Prints µs, GB/s (cache bytes read + queries + outputs) and the ratio to the
 * ceiling.
 *
 * Run: pnpm --filter @dcp/webgpu-mla run build &&
 *   pnpm --dir tooling/bench exec tsx src/webgpu-decode.bench.ts [--quick] [--out FILE.md]
 * On a machine without a GPU it needs lavapipe (`.ci/deps/webgpu.sh`, VK_ICD_FILENAMES) and
 * uses --quick shapes automatically.
 */
import { writeFileSync } from 'node:fs';
import { bf16ToNumber, numberToBf16, type Tensor } from '@dcp/backend';
import { createRng, refAttend } from '@dcp/backend/testing';
import { platformDescriptor } from '@dcp/webgpu-mla';

const argv = process.argv.slice(2);
const outFile = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : undefined;
const LATENT = 576;
const DV = 512;
const PAGE = 64;

const descriptor = platformDescriptor({ allowSoftware: true });
const adapter = await descriptor.probe();
const quick = argv.includes('--quick') || adapter.software;
const b = await descriptor.create({ config: undefined as never });

async function timeIt(fn: () => void, sync: Tensor, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) fn();
  await b.download(sync);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await b.download(sync);
    rounds.push((performance.now() - t0) / reps);
  }
  rounds.sort((x, y) => x - y);
  return rounds[2]! / 1000; // seconds per call
}

const lines: string[] = [];
const say = (s: string) => {
  console.log(s);
  lines.push(s);
};

say(
  `adapter: ${adapter.vendor} ${adapter.architecture} ${adapter.description} (software ${adapter.software}, shader-f16 ${adapter.features.shaderF16}, subgroups ${adapter.features.subgroups}, max binding ${(adapter.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, workgroup memory ${adapter.limits.maxComputeWorkgroupStorageSize} B)`,
);

// Correctness on this device first: 16 heads, a scattered bf16 cache, float64 reference.
{
  const rng = createRng(5);
  const [H, B, S] = [16, 3, 700];
  const blocksPer = Math.ceil(S / PAGE);
  const nb = B * blocksPer + 1;
  const bits = Uint16Array.from(rng.normals(nb * PAGE * LATENT), numberToBf16);
  const cache = b.upload(bits, [nb, PAGE, LATENT], 'bf16');
  const perm = rng.permutation(nb);
  const bt = Int32Array.from({ length: B * blocksPer }, (_, i) => perm[i]!);
  const lensH = [S, 1, 333];
  const qv = rng.normals(B * H * LATENT);
  const q = b.upload(Float32Array.from(qv), [B, H, LATENT], 'f32');
  const btT = b.upload(bt, [B, blocksPer], 'i32');
  const lens = b.upload(Int32Array.from(lensH), [B], 'i32');
  const out = b.alloc([B, H, DV], 'f32');
  const lse = b.alloc([B, H], 'f32');
  const scale = 1 / Math.sqrt(192);
  b.mlaDecode(q, cache, { blockTable: btT, seqLens: lens }, scale, out, lse);
  const got = (await b.download(out)) as Float32Array;
  const gotL = (await b.download(lse)) as Float32Array;
  let worst = 0;
  for (let r = 0; r < B; r++) {
    const keys = Array.from({ length: lensH[r]! }, (_, j) => {
      const at = (bt[r * blocksPer + Math.floor(j / PAGE)]! * PAGE + (j % PAGE)) * LATENT;
      return (p: number) => bf16ToNumber(bits[at + p]!);
    });
    for (let h = 0; h < H; h++) {
      const qo = (r * H + h) * LATENT;
      const ref = refAttend((p) => Math.fround(qv[qo + p]!), LATENT, keys, keys, DV, scale);
      let rms = 0;
      for (const v of ref.out) rms += v * v;
      rms = Math.sqrt(rms / DV);
      for (let d = 0; d < DV; d++) {
        const e = ref.out[d]!;
        worst = Math.max(worst, Math.abs(got[(r * H + h) * DV + d]! - e) / (Math.abs(e) + rms));
      }
      worst = Math.max(worst, Math.abs(gotL[r * H + h]! - ref.lse) / (1 + Math.abs(ref.lse)));
    }
  }
  say(
    `decode check against float64 (16 heads, bf16 cache, lengths ${lensH.join('/')}): max normalised error ${worst.toExponential(2)}`,
  );
  if (!(worst < 1e-4)) throw new Error('decode result wrong on this device');
  for (const x of [cache, q, btT, lens, out, lse]) b.dispose(x);
}

// Ceilings: a vec4 stream copy (one read + one write) and the backend's scalar `add` (two
// reads + one write); the higher is the ceiling.
const n = quick ? 1 << 20 : 64 << 20;
const va = b.alloc([n], 'f32');
const vb = b.alloc([n], 'f32');
const vc = b.alloc([n], 'f32');
b.fill(va, 1);
b.fill(vb, 2);
const tiny = b.alloc([1], 'f32');
const reps0 = quick ? 5 : 50;
const tCopy = await timeIt(() => b.streamCopy(va, vc), tiny, reps0);
const copyRate = (2 * n * 4) / tCopy / 1e9;
const tAdd = await timeIt(() => b.add(va, vb, vc), tiny, reps0);
const addRate = (3 * n * 4) / tAdd / 1e9;
const ceiling = Math.max(copyRate, addRate);
const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
say(`vec4 stream copy: ${(n * 4) / 2 ** 20} MiB, ${(tCopy * 1e6).toFixed(1)} µs, ${fmt(copyRate)} GB/s`);
say(`scalar add: ${(n * 4) / 2 ** 20} MiB per operand, ${(tAdd * 1e6).toFixed(1)} µs, ${fmt(addRate)} GB/s`);
say(`ceiling: ${fmt(ceiling)} GB/s`);
for (const t of [va, vb, vc]) b.dispose(t);

const shapes: [number, number, number][] = quick
  ? [
      [4, 2, 512],
      [16, 1, 512],
      [16, 4, 256],
    ]
  : [
      [4, 64, 8192],
      [16, 1, 65536],
      [16, 32, 16384],
      [16, 64, 8192],
      [16, 128, 4096],
      [128, 32, 4096],
      [128, 128, 1024],
    ];
say('');
say('| heads | batch | seq len | cache MiB | µs | GB/s | of ceiling |');
say('|---:|---:|---:|---:|---:|---:|---:|');
for (const [H, B, S] of shapes) {
  const blocksPer = Math.ceil(S / PAGE);
  const numBlocks = B * blocksPer;
  const cache = b.alloc([numBlocks, PAGE, LATENT], 'bf16');
  b.fill(cache, 0.01);
  const bt = new Int32Array(B * blocksPer);
  for (let i = 0; i < bt.length; i++) bt[i] = (i * 7919) % numBlocks; // scattered blocks
  const btT = b.upload(bt, [B, blocksPer], 'i32');
  const lens = b.upload(new Int32Array(B).fill(S), [B], 'i32');
  const q = b.alloc([B, H, LATENT], 'f32');
  b.fill(q, 0.05);
  const out = b.alloc([B, H, DV], 'f32');
  const lse = b.alloc([B, H], 'f32');
  const meta = { blockTable: btT, seqLens: lens };
  const reps = quick ? 3 : Math.max(5, Math.min(100, Math.round(2e9 / (B * S * LATENT * 2))));
  const t = await timeIt(() => b.mlaDecode(q, cache, meta, 0.07, out, lse), lse, reps);
  const check = (await b.download(lse)) as Float32Array;
  if (!check.every(Number.isFinite)) throw new Error(`non-finite LSE for ${H}/${B}/${S}`);
  const bytes = B * S * LATENT * 2 + B * H * (LATENT + DV + 1) * 4 + bt.length * 4;
  const gbs = bytes / t / 1e9;
  say(
    `| ${H} | ${B} | ${S} | ${((numBlocks * PAGE * LATENT * 2) / 2 ** 20).toFixed(0)} | ${(t * 1e6).toFixed(1)} | ${fmt(gbs)} | ${((100 * gbs) / ceiling).toFixed(1)} % |`,
  );
  for (const x of [cache, btT, lens, q, out, lse]) b.dispose(x);
}
b.destroy();
await descriptor.close();
if (outFile) writeFileSync(outFile, `${lines.join('\n')}\n`);
