/**
 * @dcp/webgpu-mla: MLA decode attention bandwidth against a WGSL streaming ceiling, in one run.
 *
 * Ceilings (`webgpu-ceilings.ts`, on a device of their own, same run): the copy ceiling is the
 * best of `copyBufferToBuffer`, a WGSL vec4 copy and a WGSL vec4 add over 256 MiB buffers (bytes
 * read + written); the read ceiling a WGSL read-only stream; the compute ceiling an f32 vec4 FMA
 * loop (WGSL has no tensor cores and, on the H200, no f16: decode's dot products are f32 FMAs, so
 * at 16 heads and more they bound it before bandwidth does). Decode: `mlaDecode` over a bf16 paged
 * latent cache (576-wide rows, 512 value columns, 64-token blocks, scattered block ids) of
 * random values, for 4-128 heads. Before timing, two tokens of each shape are checked against
 * float64 attention on the same data. Timing (the same for the ceilings): 0.4 s of
 * sustained calls first (the GPU clocks down between bursts), then 5 rounds of back-to-back calls
 * closed by one small download, median round. Prints µs, GB/s (cache bytes
 * read + queries + outputs), the ratios to the copy and read ceilings, TFLOP/s and the ratio to
 * the FMA rate.
 *
 * Each shape runs the tiled kernel (baseline) and the streaming kernel under several tunings.
 *
 * `--resident N` draws every block table from only N physical blocks: the cache then stays in L2
 * and the time is the kernel's SM work alone (what no memory tuning can take away).
 *
 * Run: pnpm turbo run build --filter=@dcp/webgpu-mla... &&
 *   pnpm --dir tooling/bench exec tsx src/webgpu-decode.bench.ts [--quick] [--out FILE.md]
 *   [--shapes HxBxS,...] [--variants 'a;b'] [--dawn-flags f,...] [--resident N] [--seed N]
 * On a machine without a GPU it needs lavapipe (`.ci/deps/webgpu.sh`, VK_ICD_FILENAMES) and
 * uses --quick shapes automatically.
 */
import { writeFileSync } from 'node:fs';
import type { Tensor } from '@dcp/backend';
import { type DecodeOptions, dawnGpu, platformDescriptor } from '@dcp/webgpu-mla';
import { measureCeilings } from './webgpu-ceilings.js';

const argv = process.argv.slice(2);
/** The value after command-line flag `f` (undefined without the flag; an error without a value). */
function flag(f: string): string | undefined {
  const i = argv.indexOf(f);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`${f}: needs a value`);
  return v;
}
const outFile = flag('--out');
const LATENT = 576;
const DV = 512;
const PAGE = 64;

// --dawn-flags a,b: Dawn instance flags (e.g. enable-dawn-features=disable_robustness);
// --variants 'x;y': only the kernel variants of these names; --shapes (below).
const flagArg = flag('--dawn-flags') ?? '';
const dawnFlags = flagArg ? flagArg.split(',') : [];
const only = flag('--variants')?.split(';') ?? null;
// --resident N: every sequence's blocks are drawn from only N physical blocks (a cache small
// enough to stay in L2), so the kernel's time is its SM work with HBM traffic taken away.
const resident = Number(flag('--resident') ?? 0);
if (!(Number.isInteger(resident) && resident >= 0))
  throw new Error('--resident: a block count (integer ≥ 0)');
// --seed N: the cache's random words from this seed for every shape (else one per shape).
const seedText = flag('--seed');
const seedArg = seedText === undefined ? undefined : Number(seedText);
if (seedArg !== undefined && !Number.isInteger(seedArg)) throw new Error('--seed: an integer');
const descriptor = platformDescriptor({ allowSoftware: true, dawnFlags });
const adapter = await descriptor.probe();
const quick = argv.includes('--quick') || adapter.software;
const b = await descriptor.create({ config: undefined as never });

/**
 * Seconds per call of `fn`: 0.4 s of back-to-back calls first (the GPU lowers its clocks between
 * bursts of work and needs sustained load to boost again), then 5 rounds of calls closed by one
 * small download, each round at least ~0.1 s; the median round.
 */
async function timeIt(fn: () => void, sync: Tensor): Promise<number> {
  const t0 = performance.now();
  fn();
  await b.download(sync);
  const est = Math.max(1e-3, performance.now() - t0);
  let n = 0;
  const w0 = performance.now();
  while (performance.now() - w0 < 400) {
    for (let i = 0; i < Math.max(1, Math.ceil(50 / est)); i++, n++) fn();
    await b.download(sync);
  }
  const per = (performance.now() - w0) / n;
  const reps = Math.max(3, Math.ceil(100 / per));
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t1 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await b.download(sync);
    rounds.push((performance.now() - t1) / reps);
  }
  rounds.sort((x, y) => x - y);
  return rounds[2]! / 1000;
}

const lines: string[] = [];
const say = (s: string) => {
  console.log(s);
  lines.push(s);
};
const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));

/** Random bf16 words: two values per u32, magnitudes in [2^-7, 2), random signs. */
function randomBf16Words(n: number, seed: number): Uint32Array {
  const w = new Uint32Array(n);
  let s = seed | 1;
  const half = (r: number) => (r & 0x807f) | ((120 + ((r >>> 7) & 7)) << 7);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    w[i] = (half(s) | (half(s >>> 16) << 16)) >>> 0;
  }
  return w;
}

/** Float64 attention of token t over the paged cache: outputs [H, DV] and LSEs [H]. */
function reference(
  words: Uint32Array,
  bt: Int32Array,
  mb: number,
  t: number,
  S: number,
  H: number,
  q: Float32Array,
  scale: number,
): { out: Float64Array; lse: Float64Array } {
  const row = new Float64Array(LATENT);
  const load = (j: number) => {
    const w0 = ((bt[t * mb + Math.floor(j / PAGE)]! * PAGE + (j % PAGE)) * LATENT) / 2;
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let p = 0; p < LATENT / 2; p++) {
      const w = words[w0 + p]!;
      u[0] = w << 16;
      row[2 * p] = f[0]!;
      u[0] = w & 0xffff0000;
      row[2 * p + 1] = f[0]!;
    }
  };
  const sc = new Float64Array(S * H);
  for (let j = 0; j < S; j++) {
    load(j);
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * LATENT;
      let s = 0;
      for (let p = 0; p < LATENT; p++) s += q[qo + p]! * row[p]!;
      sc[j * H + h] = s * scale;
    }
  }
  const lse = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let m = -Infinity;
    for (let j = 0; j < S; j++) m = Math.max(m, sc[j * H + h]!);
    let z = 0;
    for (let j = 0; j < S; j++) {
      const p = Math.exp(sc[j * H + h]! - m);
      sc[j * H + h] = p;
      z += p;
    }
    for (let j = 0; j < S; j++) sc[j * H + h]! /= z;
    lse[h] = m + Math.log(z);
  }
  const out = new Float64Array(H * DV);
  for (let j = 0; j < S; j++) {
    load(j);
    for (let h = 0; h < H; h++) {
      const p = sc[j * H + h]!;
      for (let x = 0; x < DV; x++) out[h * DV + x]! += p * row[x]!;
    }
  }
  return { out, lse };
}

say(`dawn flags: ${dawnFlags.join(' ') || '(none)'}`);
if (resident)
  say(`resident: every block table draws on ${resident} physical blocks (GB/s counts logical bytes)`);
say(
  `adapter: ${adapter.vendor} ${adapter.architecture} ${adapter.description} (software ${adapter.software}, shader-f16 ${adapter.features.shaderF16}, subgroups ${adapter.features.subgroups}, timestamp-query ${adapter.features.timestampQuery}, max binding ${(adapter.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, workgroup memory ${adapter.limits.maxComputeWorkgroupStorageSize} B)`,
);
// A Dawn instance of its own for the raw adapter facts and the ceilings (kept referenced: Dawn
// tears its devices down when the instance is collected).
const rawGpu = (await dawnGpu(dawnFlags))!;
const rawAdapter = (await rawGpu.requestAdapter({ powerPreference: 'high-performance' }))!;
const info = rawAdapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
say(`adapter features: ${[...rawAdapter.features].sort().join(' ')}`);
say(`subgroup sizes: ${info.subgroupMinSize}-${info.subgroupMaxSize}`);
const ceil = await measureCeilings(rawGpu, quick);
const fma = ceil.fmaTflops;
const ceiling = ceil.copy;
say(`f32 FMA rate (vec4 fma chains, own device): ${fmt(fma)} TFLOP/s`);
say(
  `streaming over 256 MiB buffers (own device; GB/s read + written): copyBufferToBuffer ${fmt(ceil.copyEngine)}, WGSL vec4 copy ${fmt(ceil.wgslCopy)}, WGSL vec4 add ${fmt(ceil.wgslAdd)}; read-only WGSL stream ${fmt(ceil.wgslRead)} GB/s read`,
);
// The backend's own vec4 copy through its launch path (for comparison with the raw one).
const n = quick ? 1 << 20 : 64 << 20;
const va = b.alloc([n], 'f32');
const vc = b.alloc([n], 'f32');
b.fill(va, 1);
const tiny = b.alloc([1], 'f32');
const tCopy = await timeIt(() => b.streamCopy(va, vc), tiny);
say(`backend streamCopy: ${fmt((2 * n * 4) / tCopy / 1e9)} GB/s`);
say(`copy ceiling (best of the three copies): ${fmt(ceiling)} GB/s; read ceiling ${fmt(ceil.wgslRead)} GB/s`);
for (const t of [va, vc]) b.dispose(t);

// --shapes 4x64x8192,16x1x65536: only these (heads x batch x seq len).
const shapeArg = flag('--shapes') ?? '';
const picked = shapeArg
  ? shapeArg.split(',').map((x) => x.split('x').map(Number) as [number, number, number])
  : null;
const shapes: [number, number, number][] =
  picked ??
  (quick
    ? [
        [4, 2, 512],
        [16, 1, 512],
        [16, 4, 256],
      ]
    : [
        [4, 64, 8192],
        [4, 128, 4096],
        [8, 64, 8192],
        [16, 1, 65536],
        [16, 32, 16384],
        [16, 64, 8192],
        [16, 128, 4096],
        [128, 32, 4096],
      ]);
/**
 * The kernels timed on each shape: the tiled kernel first (the baseline of the "vs tiled" column),
 * then the streaming kernel with its defaults and with one tuning knob changed at a time.
 */
function variants(H: number): { name: string; options: Partial<DecodeOptions> }[] {
  const flash = {
    kernel: 'flash',
    flashHeads: 0,
    flashKeys: 0,
    flashSubgroups: 2,
    flashPrefetch: false,
    targetGroups: 0,
  } as const;
  const list: { name: string; options: Partial<DecodeOptions> }[] = [
    { name: 'tiled', options: { kernel: 'tiled', targetGroups: 0 } },
    { name: 'auto', options: { ...flash, kernel: 'auto' } },
    { name: 'flash', options: flash },
    { name: 'flash 4 subgroups', options: { ...flash, flashSubgroups: 4 } },
    { name: 'flash 1024 groups', options: { ...flash, targetGroups: 1024 } },
    { name: 'flash keys 4', options: { ...flash, flashKeys: 4 } },
    { name: 'flash prefetch', options: { ...flash, flashPrefetch: true } },
    { name: 'flash keys 4 prefetch', options: { ...flash, flashKeys: 4, flashPrefetch: true } },
    { name: 'flash keys 2 prefetch', options: { ...flash, flashKeys: 2, flashPrefetch: true } },
    {
      name: 'flash keys 4 prefetch 4 subgroups',
      options: { ...flash, flashKeys: 4, flashPrefetch: true, flashSubgroups: 4 },
    },
    {
      name: 'flash keys 4 prefetch 1024 groups',
      options: { ...flash, flashKeys: 4, flashPrefetch: true, targetGroups: 1024 },
    },
  ];
  if (H > 4) list.push({ name: 'flash 8 heads', options: { ...flash, flashHeads: 8 } });
  // Fewer than 4 heads: the default plan holds exactly H heads; these pad to 2 or 4.
  if (H < 4) list.push({ name: 'flash 4 heads', options: { ...flash, flashHeads: 4 } });
  if (H === 1) list.push({ name: 'flash 2 heads', options: { ...flash, flashHeads: 2 } });
  if (only) return list.filter((v) => only.includes(v.name));
  return quick ? list.slice(0, 3) : list;
}

const rowsOut: string[] = [];
const wrong: string[] = [];
let worstAll = 0;
for (const [H, B, S] of shapes) {
  const blocksPer = Math.ceil(S / PAGE);
  const numBlocks = resident ? Math.min(resident, B * blocksPer) : B * blocksPer;
  const words = randomBf16Words((numBlocks * PAGE * LATENT) / 2, seedArg ?? H * 7919 + B * 31 + S);
  const cache = b.upload(new Uint16Array(words.buffer), [numBlocks, PAGE, LATENT], 'bf16');
  const bt = new Int32Array(B * blocksPer);
  for (let i = 0; i < bt.length; i++) bt[i] = (i * 7919) % numBlocks; // scattered blocks (7919 prime)
  const btT = b.upload(bt, [B, blocksPer], 'i32');
  const lens = b.upload(new Int32Array(B).fill(S), [B], 'i32');
  const qh = Float32Array.from(randomBf16Words(B * H * LATENT, 5), (w) => ((w & 0xffff) - 32768) / 16384);
  const q = b.upload(qh, [B, H, LATENT], 'f32');
  const out = b.alloc([B, H, DV], 'f32');
  const lse = b.alloc([B, H], 'f32');
  const meta = { blockTable: btT, seqLens: lens };
  const scale = 1 / Math.sqrt(192);
  const refs = [...new Set([0, B - 1])].map((t) => ({
    t,
    ...reference(words, bt, blocksPer, t, S, H, qh, scale),
  }));
  let tiledT = 0;
  // Checked once each; then timed in two passes over all the kernels (the first kernel timed
  // after a shape's upload often ran slower than the same kernel later in the run: a kernel
  // reports the faster of its two medians).
  const timed: {
    v: ReturnType<typeof variants>[number];
    ran: ReturnType<typeof b.lastDecodeKernel>;
    worst: number;
    t: number;
  }[] = [];
  for (const v of variants(H)) {
    b.setDecodeOptions(v.options);
    b.mlaDecode(q, cache, meta, scale, out, lse);
    const ran = b.lastDecodeKernel();
    const got = (await b.download(out)) as Float32Array;
    const gotL = (await b.download(lse)) as Float32Array;
    let worst = 0;
    for (const ref of refs) {
      const t = ref.t;
      for (let h = 0; h < H; h++) {
        let rms = 0;
        for (let x = 0; x < DV; x++) rms += ref.out[h * DV + x]! ** 2;
        rms = Math.sqrt(rms / DV);
        for (let x = 0; x < DV; x++) {
          const e = ref.out[h * DV + x]!;
          worst = Math.max(worst, Math.abs(got[(t * H + h) * DV + x]! - e) / (Math.abs(e) + rms));
        }
        worst = Math.max(worst, Math.abs(gotL[t * H + h]! - ref.lse[h]!) / (1 + Math.abs(ref.lse[h]!)));
      }
    }
    worstAll = Math.max(worstAll, worst);
    if (!(worst < 1e-4)) {
      // Reported and not timed; the run goes on with the other kernels and exits non-zero.
      wrong.push(`decode ${v.name} (${ran}) ${H}/${B}/${S}: max normalised error ${worst}`);
      console.log(wrong[wrong.length - 1]);
      continue;
    }
    timed.push({ v, ran, worst, t: Number.POSITIVE_INFINITY });
  }
  for (let pass = 0; pass < 2; pass++)
    for (const x of timed) {
      b.setDecodeOptions(x.v.options);
      x.t = Math.min(x.t, await timeIt(() => b.mlaDecode(q, cache, meta, scale, out, lse), lse));
    }
  for (const { v, ran, worst, t } of timed) {
    if (v.name === 'tiled') tiledT = t;
    const bytes = B * S * LATENT * 2 + B * H * (LATENT + DV + 1) * 4 + bt.length * 4;
    const gbs = bytes / t / 1e9;
    const tflops = (2 * B * S * H * (LATENT + DV)) / t / 1e12;
    rowsOut.push(
      `| ${v.name} (${ran}) | ${H} | ${B} | ${S} | ${((numBlocks * PAGE * LATENT * 2) / 2 ** 20).toFixed(0)} | ${(t * 1e6).toFixed(1)} | ${fmt(gbs)} | ${((100 * gbs) / ceiling).toFixed(1)} % | ${((100 * gbs) / ceil.wgslRead).toFixed(1)} % | ${tflops.toFixed(1)} | ${((100 * tflops) / fma).toFixed(0)} % | ${(tiledT / t).toFixed(2)}× | ${worst.toExponential(1)} |`,
    );
    console.log(rowsOut[rowsOut.length - 1]);
  }
  for (const x of [cache, btT, lens, q, out, lse]) b.dispose(x);
}
b.destroy();
await descriptor.close();
say('');
say(
  `decode checked against float64 (2 tokens × all heads per shape): max normalised error ${worstAll.toExponential(2)}`,
);
say('');
say(
  '| kernel (ran) | heads | batch | seq len | cache MiB | µs | GB/s | of copy ceiling | of read ceiling | TFLOP/s | of FMA rate | speed vs tiled | error |',
);
say('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rowsOut) say(r);
for (const w of wrong) say(`WRONG: ${w}`);
if (outFile) writeFileSync(outFile, `${lines.join('\n')}\n`);
if (wrong.length > 0) process.exitCode = 1;
