/**
 * @dcp/webgpu-mla: the model's matrix ops and DeepSeek-V2-Lite end to end on WebGPU, in one run.
 *
 * 1. Device check: GEMV, tiled and grouped-MoE results against float64 on this adapter.
 * 2. Ceiling: `streamCopy` (vec4 copy, 256 MiB) — the bandwidth the matmuls are judged against.
 * 3. Matmul: a GEMV tuning sweep (n = 1), GEMV vs tiled at 8–32 rows (sets `gemvMaxRows`),
 *    then V2-Lite's decode shapes (bf16 weights and activations) in GB/s and % of the ceiling,
 *    prefill shapes (1024 rows) in GFLOP/s, and the MoE experts (64 experts, top-6) — each
 *    against the naive kernels (`setMatmulOptions({ naive: true })`) in the same run.
 * 4. Model: `DeepseekV2Model` (bf16) over this backend at tp1, V2-Lite shapes with dummy weights,
 *    built with 1 and 3 layers (layer 0 dense, then MoE); decode batch 1 and 32 at context 1024
 *    and a 1024-token prefill. Decode is timed step by step (each awaited: the GPU idles and
 *    clocks down while the host waits) and sustained (16 steps queued back to back, one download). A 27-layer step is extrapolated as `T1 + 26·(T3 − T1)/2`, and
 *    compared with the naive kernels and with the bandwidth bound (bytes a step must read /
 *    ceiling). Weights: one dummy tensor per (size, scale) reused for every tensor of that kind
 *    (experts share values; routing comes from a distinct gate), generated once in JS.
 *
 * Run: pnpm --filter @dcp/webgpu-mla run build &&
 *   pnpm --dir tooling/bench exec tsx src/webgpu-model.bench.ts [--quick] [--out FILE.md] [--budget S]
 *   [--host-cache off] (the kernel launcher without its host caches: run both to compare)
 *   [--layers N] (the deeper model: 3 by default; the full depth measures it without extrapolating)
 * (node --expose-gc lets it free the weight-loading arrays before timing.)
 * Without a GPU it needs lavapipe (VK_ICD_FILENAMES) and uses --quick (the `tiny` preset).
 */
import { writeFileSync } from 'node:fs';
import { createRng, decode, encode } from '@dcp/backend/testing';
import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import { DeepseekV2Model, dummyScale, dummyTensor, fullShard, type WeightSource } from '@dcp/model';
import { slotMapping } from '@dcp/parallel-state';
import { platformDescriptor, type WebGpuTensor } from '@dcp/webgpu-mla';
import liteJson from '../../../packages/model/presets/deepseek-v2-lite/config.json' with { type: 'json' };
import tinyJson from '../../../packages/model/presets/tiny/config.json' with { type: 'json' };

const argv = process.argv.slice(2);
const flag = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
const outFile = flag('--out');
const started = performance.now();
const budget = Number(flag('--budget') ?? 400) * 1000; // sections past this are skipped
const left = () => budget - (performance.now() - started);

// --host-cache off: the launcher without its host caches (the baseline of that optimisation).
const hostCache = flag('--host-cache') !== 'off';
const descriptor = platformDescriptor({ allowSoftware: true, hostCache });
const adapter = await descriptor.probe();
const quick = argv.includes('--quick') || adapter.software;
const b = await descriptor.create({ config: undefined as never });
const rng = createRng(7);

const lines: string[] = [];
const say = (s = '') => {
  console.log(s);
  lines.push(s);
};
const save = () => outFile && writeFileSync(outFile, `${lines.join('\n')}\n`);
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** Median seconds per call: warm-up, then rounds of `reps` calls closed by one tiny download. */
async function timeIt(fn: () => void, rounds = 5): Promise<number> {
  const sync = b.alloc([1], 'f32');
  fn();
  await b.download(sync);
  let t0 = performance.now();
  fn();
  await b.download(sync);
  const once = Math.max(1e-3, performance.now() - t0);
  const reps = Math.max(1, Math.min(200, Math.round(20 / once)));
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await b.download(sync);
    times.push((performance.now() - t0) / reps);
  }
  b.dispose(sync);
  times.sort((x, y) => x - y);
  return times[Math.floor(rounds / 2)]! / 1000;
}

const rand = (n: number, scale: number, dt: 'bf16' | 'f32', shape: number[]) => {
  const e = encode(rng.normals(n, scale), dt);
  return { t: b.upload(e.data, shape, dt), v: e.stored };
};

say(`# webgpu-model bench (${quick ? 'quick' : 'full'})`);
say(
  `adapter: ${adapter.vendor} ${adapter.architecture} ${adapter.description} (software ${adapter.software}, subgroups ${adapter.features.subgroups}, shader-f16 ${adapter.features.shaderF16})`,
);

// ------------------------------------------------------------------ 1. device check
{
  let worst = 0;
  const check = async (n: number, k: number, m: number, maxRows: number) => {
    b.setMatmulOptions({ gemvMaxRows: maxRows });
    const x = rand(n * k, 1, 'bf16', [n, k]);
    const w = rand(m * k, 0.05, 'bf16', [m, k]);
    const out = b.alloc([n, m], 'f32');
    b.linear(x.t, w.t, out);
    const got = decode(await b.download(out), 'f32');
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        let a = 0;
        for (let q = 0; q < k; q++) {
          s += x.v[i * k + q]! * w.v[j * k + q]!;
          a += Math.abs(x.v[i * k + q]! * w.v[j * k + q]!);
        }
        worst = Math.max(worst, Math.abs(got[i * m + j]! - s) / a);
      }
    for (const t of [x.t, w.t, out]) b.dispose(t);
  };
  await check(3, 2048, 100, 8); // GEMV
  await check(100, 2048, 70, 8); // tiled
  await check(32, 1408, 70, 32); // GEMV, 4 tiles of 8 rows
  b.setMatmulOptions({ gemvMaxRows: 8 });
  say(`device check (GEMV and tiled linear vs float64): max error / Σ|terms| ${worst.toExponential(2)}`);
  if (!(worst < 1e-5)) throw new Error('matmul result wrong on this device');
}

// ------------------------------------------------------------------ 2. ceiling
const copyN = quick ? 1 << 22 : 64 << 20;
const ca = b.alloc([copyN], 'f32');
const cb = b.alloc([copyN], 'f32');
b.fill(ca, 1);
const tCopy = await timeIt(() => b.streamCopy(ca, cb));
const ceiling = (2 * copyN * 4) / tCopy; // bytes/s
b.dispose(ca);
b.dispose(cb);
say(`ceiling: vec4 stream copy of ${(copyN * 4) / 2 ** 20} MiB: ${fmt(ceiling / 1e9)} GB/s`);
save();

// Host cost of one op: back-to-back encodes of a tiny op (no GPU work to speak of) — the floor
// under every small op below and under every layer of the model.
{
  const y = b.alloc([64], 'f32');
  const x = b.alloc([1, 64], 'bf16');
  const w = b.alloc([64, 64], 'bf16');
  const o16 = b.alloc([1, 64], 'bf16');
  const o32 = b.alloc([1, 64], 'f32');
  const ops: [string, () => void][] = [
    ['add (1 pass)', () => b.add(y, y, y)],
    ['linear GEMV, f32 out (1 pass)', () => b.linear(x, w, o32)],
    ['linear GEMV, bf16 out (1 pass, packed)', () => b.linear(x, w, o16)],
    [
      'linear naive, bf16 out (2 passes)',
      () => {
        b.setMatmulOptions({ naive: true });
        b.linear(x, w, o16);
        b.setMatmulOptions({ naive: false });
      },
    ],
  ];
  say('');
  say('Host cost per op (500 tiny ops back to back): encode µs/op, and until done µs/op.');
  for (const [label, f] of ops) {
    f();
    await b.download(y);
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) f();
    const t1 = performance.now();
    await b.download(y);
    const t2 = performance.now();
    say(`  ${label}: ${fmt(((t1 - t0) / 500) * 1000)} µs encode, ${fmt(((t2 - t0) / 500) * 1000)} µs total`);
  }
  for (const z of [y, x, w, o16, o32]) b.dispose(z);
}
save();

// ------------------------------------------------------------------ 3. matmul
const sc = quick ? 8 : 1; // quick: every dim / 8
const S = (d: number) => Math.max(8, Math.round(d / sc / 8) * 8);
const H = S(2048);

/** Times `linear` of `n` bf16 rows against bf16 `w` `[m, k]`; returns seconds. */
async function linearTime(n: number, m: number, k: number, opts: object = {}): Promise<number> {
  const before = b.matmulOptions();
  b.setMatmulOptions(opts);
  const x = rand(n * k, 1, 'bf16', [n, k]);
  const w = b.alloc([m, k], 'bf16');
  b.fill(w, 0.01);
  const out = b.alloc([n, m], 'bf16');
  const t = await timeIt(() => b.linear(x.t, w, out));
  for (const z of [x.t, w, out]) b.dispose(z);
  b.setMatmulOptions(before);
  return t;
}
const bytes = (n: number, m: number, k: number) => 2 * (m * k + n * k + n * m);

// GEMV tuning at n = 1 on three shapes; the fastest (geometric mean) is used from here on.
{
  const shapes = [
    [H, H],
    [H, S(10944)],
    [S(102400), H],
  ] as const;
  const sweep: { threads: number; rows: number; unroll: number; score: number }[] = [];
  for (const threads of [64, 128, 256])
    for (const rows of [2, 4, 8])
      for (const unroll of [1, 2, 4]) {
        if (left() < budget * 0.75) break;
        let logSum = 0;
        for (const [m, k] of shapes) {
          logSum += Math.log(
            await linearTime(1, m, k, { gemvThreads: threads, gemvRows: rows, gemvUnroll: unroll }),
          );
        }
        sweep.push({ threads, rows, unroll, score: Math.exp(logSum / shapes.length) });
      }
  sweep.sort((x, y) => x.score - y.score);
  const best = sweep[0];
  if (best) b.setMatmulOptions({ gemvThreads: best.threads, gemvRows: best.rows, gemvUnroll: best.unroll });
  say('');
  say(
    `GEMV tuning (n=1, geometric mean over [${shapes.map((s) => s.join('×')).join(', ')}]), best 5 of ${sweep.length}:`,
  );
  for (const s of sweep.slice(0, 5))
    say(`  threads ${s.threads}, rows ${s.rows}, unroll ${s.unroll}: ${fmt(s.score * 1e6)} µs`);
  const worst = sweep.at(-1);
  if (worst)
    say(
      `  slowest: threads ${worst.threads}, rows ${worst.rows}, unroll ${worst.unroll}: ${fmt(worst.score * 1e6)} µs`,
    );
}

// GEMV vs tiled at 8..32 rows: gemvMaxRows = the largest row count where GEMV wins on both shapes.
{
  let maxRows = 1;
  let allWon = true;
  say('');
  say('| rows | shape | GEMV µs | tiled µs |');
  say('|---:|---|---:|---:|');
  for (const n of [4, 8, 16, 32]) {
    let wins = true;
    for (const [m, k] of [
      [H, H],
      [S(5632), H],
    ] as const) {
      const g = await linearTime(n, m, k, { gemvMaxRows: n });
      const t = await linearTime(n, m, k, { gemvMaxRows: 0 });
      say(`| ${n} | ${m}×${k} | ${fmt(g * 1e6)} | ${fmt(t * 1e6)} |`);
      wins &&= g < t;
    }
    allWon &&= wins;
    if (allWon) maxRows = n;
  }
  b.setMatmulOptions({ gemvMaxRows: maxRows });
  say(`gemvMaxRows set to ${maxRows}; options: ${JSON.stringify(b.matmulOptions())}`);
  save();
}

const decodeShapes: [string, number, number][] = [
  ['q_proj', S(3072), H],
  ['kv_a', S(576), H],
  ['o_proj', H, H],
  ['shared gate_up', S(5632), H],
  ['shared down', H, S(2816)],
  ['dense gate_up', S(21888), H],
  ['dense down', H, S(10944)],
  ['lm_head', S(102400), H],
];
say('');
say('Decode shapes (bf16 weights and activations): GB/s = (weights + x + out bytes) / time.');
say('');
say('| op | n | w [m×k] | µs | GB/s | of ceiling | naive µs | speed-up |');
say('|---|---:|---|---:|---:|---:|---:|---:|');
for (const n of [1, 32]) {
  for (const [name, m, k] of decodeShapes) {
    if (left() < budget * 0.55) break;
    const t = await linearTime(n, m, k);
    const naive = await linearTime(n, m, k, { naive: true });
    const gbs = bytes(n, m, k) / t;
    say(
      `| ${name} | ${n} | ${m}×${k} | ${fmt(t * 1e6)} | ${fmt(gbs / 1e9)} | ${pct(gbs / ceiling)} | ${fmt(naive * 1e6)} | ${fmt(naive / t)}× |`,
    );
  }
}
save();

say('');
say('Prefill shapes (1024 rows, bf16): GFLOP/s = 2·n·m·k / time; tiled with 64 (T4) and 128 (T8) tiles.');
say('');
say('| op | w [m×k] | T4 µs | T4 GFLOP/s | T8 µs | T8 GFLOP/s | naive µs |');
say('|---|---|---:|---:|---:|---:|---:|');
{
  const n = quick ? 128 : 1024;
  let t4sum = 0;
  let t8sum = 0;
  for (const [name, m, k] of [
    ['q_proj', S(3072), H],
    ['kv_b', S(4096), S(512)],
    ['o_proj', H, H],
    ['shared gate_up', S(5632), H],
    ['dense gate_up', S(21888), H],
  ] as const) {
    if (left() < budget * 0.45) break;
    const t4 = await linearTime(n, m, k, { gemmThread: 4 });
    const t8 = await linearTime(n, m, k, { gemmThread: 8 });
    const naive =
      name === 'o_proj' || name === 'kv_b' ? await linearTime(n, m, k, { naive: true }) : Number.NaN;
    t4sum += t4;
    t8sum += t8;
    const gf = (t: number) => fmt((2 * n * m * k) / t / 1e9);
    say(
      `| ${name} | ${m}×${k} | ${fmt(t4 * 1e6)} | ${gf(t4)} | ${fmt(t8 * 1e6)} | ${gf(t8)} | ${Number.isNaN(naive) ? '–' : fmt(naive * 1e6)} |`,
    );
  }
  if (t8sum > 0 && t8sum < t4sum) b.setMatmulOptions({ gemmThread: 8 });
  say(`tiled kernel for the model: T${b.matmulOptions().gemmThread}`);
}
save();

// MoE experts at V2-Lite shapes: 64 experts, top-6, random distinct routing.
say('');
{
  const [E, I, K] = [quick ? 8 : 64, S(1408), quick ? 2 : 6];
  say(
    `MoE experts (${E} × [2·${I}, ${H}] + [${H}, ${I}] bf16, top-${K}): GB/s over the experts the batch touches.`,
  );
  say('');
  say('| tokens | experts touched | µs | GB/s | of ceiling | GFLOP/s | naive µs | speed-up |');
  say('|---:|---:|---:|---:|---:|---:|---:|---:|');
  const gu = b.alloc([E, 2 * I, H], 'bf16');
  const dn = b.alloc([E, H, I], 'bf16');
  b.fill(gu, 0.01);
  b.fill(dn, 0.01);
  for (const n of quick ? [1, 8, 64] : [1, 32, 1024]) {
    if (left() < budget * 0.35) break;
    const ids: number[] = [];
    for (let t = 0; t < n; t++) ids.push(...rng.permutation(E).slice(0, K));
    const touched = new Set(ids).size;
    const idT = b.upload(Int32Array.from(ids), [n, K], 'i32');
    const wT = b.upload(new Float32Array(n * K).fill(1 / K), [n, K], 'f32');
    const x = rand(n * H, 1, 'bf16', [n, H]);
    const out = b.alloc([n, H], 'bf16');
    const run = () => b.moeExperts(x.t, idT, wT, gu, dn, 0, out);
    const t = await timeIt(run);
    const naive =
      n <= 32 || quick
        ? await (async () => {
            b.setMatmulOptions({ naive: true });
            const v = await timeIt(run, 3);
            b.setMatmulOptions({ naive: false });
            return v;
          })()
        : Number.NaN;
    const gbs = (touched * 3 * I * H * 2) / t;
    const gflops = (2 * n * K * 3 * I * H) / t / 1e9;
    say(
      `| ${n} | ${touched} | ${fmt(t * 1e6)} | ${fmt(gbs / 1e9)} | ${pct(gbs / ceiling)} | ${fmt(gflops)} | ${Number.isNaN(naive) ? '–' : fmt(naive * 1e6)} | ${Number.isNaN(naive) ? '–' : `${fmt(naive / t)}×`} |`,
    );
    for (const z of [idT, wT, x.t, out]) b.dispose(z);
  }
  b.dispose(gu);
  b.dispose(dn);
}
save();

// ------------------------------------------------------------------ 4. the model
const base = parseHfModelConfig(quick ? tinyJson : liteJson);

/** Dummy weights, one tensor per (element count, scale), reused: fast to make, realistic shapes. */
function reusedDummy(seed: number): WeightSource {
  const cache = new Map<string, Float32Array>();
  return {
    description: `dummy(seed=${seed}, reused per size)`,
    read(name, fullShape, slice) {
      const n = slice.shape.reduce((a, c) => a * c, 1);
      const { offset, scale } = dummyScale(name, fullShape);
      const key = `${n}:${offset}:${scale}`;
      let v = cache.get(key);
      if (!v) {
        v = dummyTensor(seed, name, fullShape, slice);
        cache.set(key, v);
      }
      return v;
    },
  };
}

const BLOCK = 64;
const CTX = quick ? 128 : 1024;
const PROMPT = quick ? 128 : 1024;
const BATCHES = [1, 32];

interface StepTimes {
  decode: Map<number, number>;
  /** Per step, SUSTAINED decode steps queued back to back (one download at the end). */
  sustained: Map<number, number>;
  prefill: number;
}

/** Steps queued back to back in the sustained measure (the GPU never waits on the host). */
const SUSTAINED = 16;

/** Loads `layers` layers once, then times the steps with the tuned kernels and with the naive ones. */
async function runModel(
  layers: number,
  source: WeightSource,
): Promise<{ tuned: StepTimes; naive: StepTimes }> {
  const config: ModelConfig = { ...base, numHiddenLayers: layers };
  const t0 = performance.now();
  const model = await DeepseekV2Model.load({
    config,
    backend: b,
    shard: fullShard(config),
    source,
    dtype: 'bf16',
  });
  const per = Math.ceil((CTX + 1) / BLOCK);
  const numBlocks = Math.max(...BATCHES) * per + Math.ceil(PROMPT / BLOCK) + 1;
  model.allocateKvCache(numBlocks, BLOCK, 'bf16');
  say(`loaded ${layers} layer(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  (globalThis as { gc?: () => void }).gc?.(); // node --expose-gc: drop the load's host arrays now
  const ids = (n: number) => Array.from({ length: n }, () => rng.int(0, config.vocabSize - 1));
  const step = async (batch: Parameters<typeof model.forward>[0], rows: number) => {
    const res = await model.forward(batch);
    const am = b.alloc([rows], 'i32');
    b.argmax(res.logits! as WebGpuTensor, am);
    await b.download(am);
    b.dispose(am);
    b.dispose(res.logits! as WebGpuTensor);
  };
  // A busy server's view: steps encoded and submitted without awaiting each one (the argmax stays
  // on the GPU; only the last is downloaded), so the GPU keeps its clocks up between steps.
  const sustained = async (batch: Parameters<typeof model.forward>[0], rows: number) => {
    await step(batch, rows);
    const s = performance.now();
    let last: WebGpuTensor | null = null;
    for (let i = 0; i < SUSTAINED; i++) {
      const res = await model.forward(batch);
      const am = b.alloc([rows], 'i32');
      b.argmax(res.logits! as WebGpuTensor, am);
      b.dispose(res.logits! as WebGpuTensor);
      if (last) b.dispose(last);
      last = am;
    }
    await b.download(last!);
    b.dispose(last!);
    return (performance.now() - s) / SUSTAINED / 1000;
  };
  const timeSteps = async (f: () => Promise<void>, reps: number) => {
    await f();
    await f();
    const ts: number[] = [];
    for (let r = 0; r < reps; r++) {
      const s = performance.now();
      await f();
      ts.push(performance.now() - s);
    }
    ts.sort((x, y) => x - y);
    return ts[Math.floor(reps / 2)]! / 1000;
  };
  const measure = async (naive: boolean): Promise<StepTimes> => {
    b.setMatmulOptions({ naive });
    const out: StepTimes = { decode: new Map(), sustained: new Map(), prefill: Number.NaN };
    for (const B of BATCHES) {
      if (left() < 0) return out;
      const tables = Array.from({ length: B }, (_, r) => Array.from({ length: per }, (_, j) => r * per + j));
      const slots = tables.flatMap((tb) => [
        ...slotMapping([CTX], tb, { dcp: 1, dcpRank: 0, interleave: 1, blockSize: BLOCK }),
      ]);
      const batch = {
        tokenIds: ids(B),
        positions: new Array<number>(B).fill(CTX),
        queryLens: new Array<number>(B).fill(1),
        computedLens: new Array<number>(B).fill(CTX),
        blockTables: tables,
        slotMapping: slots,
      };
      out.decode.set(B, await timeSteps(() => step(batch, B), naive ? 3 : 8));
      out.sustained.set(B, await sustained(batch, B));
    }
    if (left() < 0) return out;
    const pb = Math.ceil(PROMPT / BLOCK);
    const table = Array.from({ length: pb }, (_, j) => numBlocks - 1 - j);
    const positions = Array.from({ length: PROMPT }, (_, i) => i);
    const prefill = {
      tokenIds: ids(PROMPT),
      positions,
      queryLens: [PROMPT],
      computedLens: [0],
      blockTables: [table],
      slotMapping: slotMapping(positions, table, { dcp: 1, dcpRank: 0, interleave: 1, blockSize: BLOCK }),
    };
    out.prefill = await timeSteps(() => step(prefill, 1), naive ? 1 : 5);
    return out;
  };
  try {
    // Tuned, naive, tuned again (the host frees the load's arrays meanwhile): the faster tuned.
    const first = await measure(false);
    const naive = await measure(true);
    const again = await measure(false);
    const tuned: StepTimes = {
      decode: new Map([...first.decode].map(([k, v]) => [k, Math.min(v, again.decode.get(k) ?? v)])),
      sustained: new Map([...first.sustained].map(([k, v]) => [k, Math.min(v, again.sustained.get(k) ?? v)])),
      prefill: Math.min(first.prefill, again.prefill),
    };
    const ms = (x: StepTimes) =>
      [...x.decode]
        .map(([k, v]) => `b${k} ${fmt(v * 1e3)} (sustained ${fmt((x.sustained.get(k) ?? Number.NaN) * 1e3)})`)
        .join(', ') + `, prefill ${fmt(x.prefill * 1e3)} ms`;
    say(`  ${layers} layer(s): tuned ${ms(first)}; naive ${ms(naive)}; tuned again ${ms(again)}`);
    return { tuned, naive };
  } finally {
    b.setMatmulOptions({ naive: false });
    model.dispose();
  }
}

/** Bytes one decode step of `B` rows must read (bf16 weights, f32 router, bf16 cache at CTX). */
function decodeBytes(c: ModelConfig, layers: number, B: number): number {
  const h = c.hiddenSize;
  const qk = c.qkNopeHeadDim + c.qkRopeHeadDim;
  const attn =
    c.numAttentionHeads * qk * h +
    (c.kvLoraRank + c.qkRopeHeadDim) * h +
    c.numAttentionHeads * (c.qkNopeHeadDim + c.vHeadDim) * c.kvLoraRank +
    h * c.numAttentionHeads * c.vHeadDim;
  const dense = 3 * h * c.intermediateSize;
  const expert = 3 * h * c.moeIntermediateSize;
  const touched = c.nRoutedExperts * (1 - (1 - c.numExpertsPerTok / c.nRoutedExperts) ** B);
  const moe = c.nSharedExperts * expert + touched * expert;
  let params = c.vocabSize * h; // LM head
  for (let l = 0; l < layers; l++) params += attn + (l < c.firstKDenseReplace ? dense : moe);
  const router = 4 * c.nRoutedExperts * h * (layers - c.firstKDenseReplace);
  const cache = layers * B * (CTX + 1) * (c.kvLoraRank + c.qkRopeHeadDim) * 2;
  return 2 * params + router + cache;
}

say('');
say(
  `Model: DeepseekV2Model over webgpu-mla, ${quick ? 'tiny' : 'deepseek-v2-lite'} shapes, bf16, tp1, decode at context ${CTX}, prefill of ${PROMPT} tokens; host launch caches ${hostCache ? 'on' : 'off'}.`,
);
const source = reusedDummy(0);
const L1 = 1;
const L3 = Math.min(Number(flag('--layers') ?? 3), base.numHiddenLayers);
if (!(Number.isInteger(L3) && L3 > L1))
  throw new Error(`--layers must be an integer above ${L1}, got ${flag('--layers')}`);
const m1 = await runModel(L1, source);
const m3 = await runModel(L3, source);
const [tuned1, tuned3, naive1, naive3] = [m1.tuned, m3.tuned, m1.naive, m3.naive];
const full = base.numHiddenLayers;
const extrapolate = (a: number | undefined, c: number | undefined) =>
  a === undefined || c === undefined ? Number.NaN : a + ((full - L1) * (c - a)) / (L3 - L1);
say('');
say(
  L3 === full
    ? `Per step, ${full} layers measured (ms); tokens/s = rows / step.`
    : `Per step, ${full} layers extrapolated from 1 and ${L3} layers (ms); tokens/s = rows / step.`,
);
say('');
say(
  `| step | 1 layer ms | ${L3} layers ms | full ms | tokens/s | naive 1 / ${L3} layers ms | naive full ms | naive tok/s | speed-up | bound ms (bytes / ceiling) | of bound |`,
);
say('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const row = (label: string, rows: number, get: (s: StepTimes) => number | undefined, bound: number) => {
  const t = extrapolate(get(tuned1), get(tuned3));
  const nv = extrapolate(get(naive1), get(naive3));
  const f = (x: number | undefined) => (x === undefined ? '–' : fmt(x * 1e3));
  say(
    `| ${label} | ${f(get(tuned1))} | ${f(get(tuned3))} | ${fmt(t * 1e3)} | ${fmt(rows / t)} | ${f(get(naive1))} / ${f(get(naive3))} | ${fmt(nv * 1e3)} | ${fmt(rows / nv)} | ${fmt(nv / t)}× | ${Number.isNaN(bound) ? '–' : fmt(bound * 1e3)} | ${Number.isNaN(bound) ? '–' : pct(bound / t)} |`,
  );
};
for (const B of BATCHES) {
  row(`decode b${B}`, B, (s) => s.decode.get(B), decodeBytes(base, full, B) / ceiling);
  row(
    `decode b${B}, ${SUSTAINED} queued`,
    B,
    (s) => s.sustained.get(B),
    decodeBytes(base, full, B) / ceiling,
  );
}
row(`prefill ${PROMPT}`, PROMPT, (s) => (Number.isNaN(s.prefill) ? undefined : s.prefill), Number.NaN);
say('');
say(
  `elapsed ${((performance.now() - started) / 1000).toFixed(0)} s${left() < 0 ? ' (time budget hit: later sections cut short)' : ''}`,
);
save();
await descriptor.close();
process.exit(0);
