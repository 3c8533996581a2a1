/**
 * DCP across GPUs on WebGPU: the engine at tp2·dcp2 with `--attention-backend webgpu-mla`, its two
 * ranks on one GPU (baseline, Dawn's default adapter) and on two (`--webgpu-devices`, each rank's
 * adapter chosen through Mesa's device-select layer), on a host with several identically named
 * GPUs (the H200 pair of `nvidia-h200-x2`).
 *
 * 1. Check: the `tiny` preset's greedy tokens (dummy weights, two prompts) at tp2·dcp2 on two
 *    GPUs against cpu-mla at tp1, up to the first near tie (top-2 gap < 1e-4), as the engine tests.
 * 2. Placement: per-GPU memory (nvidia-smi) while each engine is up.
 * 3. Speed: DeepSeek-V2-Lite shapes with `--layers` layers (dummy weights), `--requests`
 *    concurrent prompts of `--prompt` tokens, `--gen` greedy tokens each, one GPU vs two, taking
 *    turns for `--rounds` rounds (median).
 *
 * Run (GPU host, see tooling/bench/results/webgpu-gpus-h200.md for the bundle):
 *   node webgpu-gpus.bench.js [--devices 0000:00:06.0,0000:00:07.0] [--layers 4] [--out file.md]
 * Without `--devices` the PCI bus IDs come from `nvidia-smi --query-gpu=pci.bus_id`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultEngineConfig, type EngineConfig } from '@dcp/config';
import { type CreatedEngine, createEngine } from '@dcp/engine/node';
import { greedyWithGaps } from '@dcp/engine/testing';
import liteJson from '../../../packages/model/presets/deepseek-v2-lite/config.json' with { type: 'json' };
import tinyJson from '../../../packages/model/presets/tiny/config.json' with { type: 'json' };

const { values: a } = parseArgs({
  options: {
    devices: { type: 'string' },
    layers: { type: 'string', default: '4' },
    requests: { type: 'string', default: '16' },
    prompt: { type: 'string', default: '256' },
    gen: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const int = (name: keyof typeof a) => {
  const n = Number(a[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${a[name]}`);
  return n;
};
const [LAYERS, REQUESTS, PROMPT, GEN, ROUNDS] = (
  ['layers', 'requests', 'prompt', 'gen', 'rounds'] as const
).map(int) as [number, number, number, number, number];
const smi = (q: string) =>
  (
    spawnSync('nvidia-smi', [`--query-gpu=${q}`, '--format=csv,noheader'], { encoding: 'utf8' }).stdout ?? ''
  ).trim();
const devices = (a.devices ?? smi('pci.bus_id'))
  .split(/[,\n]/)
  .map((s) => s.trim())
  .filter(Boolean);
if (devices.length < 2) throw new Error(`--devices: need two PCI bus IDs (got ${JSON.stringify(devices)})`);
const lines: string[] = [];
const say = (l: string) => {
  lines.push(l);
  console.log(l);
};

/** A model folder with `json`'s config (layers overridden). */
function modelDir(name: string, json: object, layers?: number): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'dcp-gpus-')), name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(layers ? { ...json, num_hidden_layers: layers } : json),
  );
  return dir;
}

async function start(
  model: string,
  tp: number,
  backend: string,
  gpus: string[] | null,
  over = (_: EngineConfig) => {},
) {
  const c = defaultEngineConfig();
  c.model = model;
  c.load.loadFormat = 'dummy';
  c.parallel.tp = tp;
  c.parallel.dcp = tp;
  c.attentionBackend = backend;
  c.webgpuDevices = gpus;
  c.skipTokenizerInit = true;
  over(c);
  return createEngine(c, { log: (l) => console.error(l) });
}

interface Out {
  tokens: number[][];
  gaps: number[][];
  wallS: number;
}
async function generate(e: CreatedEngine, ps: number[][], gen: number, tag: string): Promise<Out> {
  const t0 = performance.now();
  const rs = await Promise.all(ps.map((p, i) => greedyWithGaps(e.llm, p, gen, `${tag}-${i}`)));
  return {
    tokens: rs.map((r) => r.tokens),
    gaps: rs.map((r) => r.gaps),
    wallS: (performance.now() - t0) / 1000,
  };
}

function prompts(n: number, len: number, vocab: number, seed: number): number[][] {
  let s = seed;
  return Array.from({ length: n }, () =>
    Array.from({ length: len }, () => {
      s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return 3 + (s % (vocab - 3));
    }),
  );
}

/** How many leading tokens agree, and how many had to (up to the first near tie). */
function agreement(got: Out, ref: Out): { same: number; needed: number } {
  let same = 0;
  let needed = 0;
  ref.tokens.forEach((want, i) => {
    const tie = ref.gaps[i]!.findIndex((g) => g < 1e-4);
    const upto = tie < 0 ? want.length : tie + 1;
    needed += upto;
    const g = got.tokens[i]!;
    for (let k = 0; k < upto && g[k] === want[k]; k++) same++;
  });
  return { same, needed };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

say(`# DCP across GPUs on WebGPU (${new Date().toISOString()})`);
say('');
say(`GPUs: ${smi('index,name,pci.bus_id').replace(/\n/g, ' | ')}; --webgpu-devices ${devices.join(',')}`);

// 1. Check on tiny.
const tiny = modelDir('tiny', tinyJson);
const tp = prompts(2, 96, tinyJson.vocab_size, 7);
const fp32 = (c: EngineConfig) => {
  c.load.dtype = 'float32';
  c.cache.kvCacheDtype = 'fp32';
};
const cpu = await start(tiny, 1, 'cpu-mla', null, fp32);
const ref = await generate(cpu, tp, 8, 'ref');
await cpu.llm.shutdown();
const two = await start(tiny, 2, 'webgpu-mla', devices.slice(0, 2), fp32);
const mem2 = smi('index,memory.used');
const got = await generate(two, tp, 8, 'two');
await two.llm.shutdown();
const ag = agreement(got, ref);
say(
  `tiny tp2·dcp2 on two GPUs vs cpu-mla tp1: ${ag.same}/${ag.needed} tokens agree (up to near ties); memory while up: ${mem2.replace(/\n/g, '; ')}`,
);
if (ag.same !== ag.needed) process.exitCode = 1;

// 2–3. Lite shapes, one GPU vs two.
const lite = modelDir('lite', liteJson, LAYERS);
const ps = prompts(REQUESTS, PROMPT, liteJson.vocab_size, 11);
const setups = [
  { name: 'one GPU (both ranks)', gpus: null as string[] | null },
  { name: 'two GPUs', gpus: devices.slice(0, 2) },
];
const engines: CreatedEngine[] = [];
const mem: string[] = [];
for (const s of setups) {
  const e = await start(lite, 2, 'webgpu-mla', s.gpus, (c) => {
    c.scheduler.maxNumSeqs = REQUESTS;
    c.cache.numGpuBlocksOverride = Math.ceil((REQUESTS * (PROMPT + GEN)) / 16 / 2) + 64;
  });
  mem.push(smi('index,memory.used').replace(/\n/g, '; '));
  await generate(e, ps.slice(0, 2), 4, 'warm');
  engines.push(e);
}
const walls: number[][] = setups.map(() => []);
const outs: Out[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, e] of engines.entries()) {
    const o = await generate(e, ps, GEN, `r${r}`);
    walls[i]!.push(o.wallS);
    if (r === 0) outs.push(o);
  }
}
for (const e of engines) await e.llm.shutdown();
say('');
say(
  `DeepSeek-V2-Lite shapes, ${LAYERS} layers, dummy bf16 weights, tp2·dcp2, ${REQUESTS} concurrent × (${PROMPT} prompt + ${GEN} greedy), median of ${ROUNDS} rounds (the setups take turns):`,
);
say('');
say(
  '| setup | per-GPU MiB used after load | wall s (median) | output tok/s | vs one GPU | same tokens as one GPU |',
);
say('|---|---|---:|---:|---:|---:|');
const base = median(walls[0]!);
setups.forEach((s, i) => {
  const w = median(walls[i]!);
  const same = agreement(outs[i]!, outs[0]!);
  say(
    `| ${s.name} | ${mem[i]} | ${w.toFixed(2)} | ${((REQUESTS * GEN) / w).toFixed(1)} | ${(base / w).toFixed(2)}× | ${same.same}/${same.needed} |`,
  );
});
if (a.out) writeFileSync(a.out, `${lines.join('\n')}\n`);
process.exit(process.exitCode ?? 0);
