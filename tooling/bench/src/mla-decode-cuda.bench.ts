/**
 * @dcp/flashmla-cuda: MLA decode on one GPU against the ceilings and the peers, in one run.
 *
 * 1. `mla-decode-cuda-peers.py` (python3 with torch) measures the copy and matmul ceilings, plain
 *    torch, and — when their sources sit in the git-ignored `.peers/` — vLLM's Triton MLA decode
 *    kernel (4 splits, and the best of a split sweep) and FlashMLA.
 * 2. This process measures our kernel on the same shapes the same way: one CUDA graph per shape,
 *    cold L2 (a 256 MiB memset before each replay), CUDA events, median; error against a float64
 *    reference of sampled requests and heads.
 * Prints µs, GB/s, TFLOP/s, SOL% (floor / time, floor = max(bytes / copy rate, FLOPs / matmul
 * rate)) and error, with our speed-up over the tuned Triton kernel.
 *
 * Run (GPU host): pnpm --filter @dcp/flashmla-cuda run build &&
 *   pnpm --dir tooling/bench exec tsx src/mla-decode-cuda.bench.ts [--quick] [--out DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaRank, probeCuda } from '@dcp/flashmla-cuda';
import { bf16ToF64, refAttention, relError, rng } from '@dcp/flashmla-cuda/testing';

const LATENT = 576;
const DV = 512;
const PAGE = 64;
const SCALE = 1 / Math.sqrt(192);
const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const outDir = argv.includes('--out') ? argv[argv.indexOf('--out') + 1]! : (process.env.OUT ?? '.');

const shapes: [number, number, number][] = [];
for (const h of [16, 128])
  for (const b of [1, 32, 128]) for (const s of quick ? [4096] : [4096, 16384, 65536]) shapes.push([h, b, s]);

interface Peer {
  h: number;
  b: number;
  s: number;
  torch?: number | null;
  torchErr?: number;
  triton4?: number;
  tritonErr?: number;
  tritonTuned?: number;
  tritonSplits?: number;
  tritonTunedErr?: number;
  tritonNote?: string;
  flashmla?: number;
  flashmlaErr?: number;
  flashmlaNote?: string;
}
interface PeerRun {
  device: string;
  torch: string;
  triton: string;
  copyBytesPerS: number;
  matmulFlopPerS: number;
  haveTriton: boolean;
  haveFlashMla: boolean;
  flashmlaSkip?: string | null;
  shapes: Peer[];
}

function median(a: Float64Array): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

/** Our decode on one shape: median µs and the worst sampled relative error. */
async function ours(
  rank: CudaRank,
  h: number,
  b: number,
  s: number,
  iters: number,
  flush: ReturnType<CudaRank['alloc']>,
) {
  const nbPer = Math.ceil(s / PAGE);
  const numBlocks = b * nbPer;
  const cache = rank.alloc(numBlocks * PAGE * LATENT * 2);
  const q = rank.alloc(b * h * LATENT * 2);
  rank.fillUniformBf16(cache, numBlocks * PAGE * LATENT, 7 + h + b + s);
  rank.fillUniformBf16(q, b * h * LATENT, 11 + h + b + s);
  const r = rng(h * 1000 + b + s);
  const perm = Int32Array.from({ length: numBlocks }, (_, i) => i);
  for (let i = numBlocks - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const table = rank.alloc(numBlocks * 4);
  rank.upload(table, perm);
  const lens = rank.alloc(b * 4);
  rank.upload(lens, new Int32Array(b).fill(s));
  const out = rank.alloc(b * h * DV * 2);
  const lse = rank.alloc(b * h * 4);
  rank.memset(out, 0xff, out.bytes);
  const plan = rank.decodePlan(b, h, s);
  const ws = plan.workspaceBytes > 0 ? rank.alloc(plan.workspaceBytes) : undefined;
  const args = {
    q,
    cache,
    blockTable: table,
    seqLens: lens,
    out,
    lse,
    tokens: b,
    heads: h,
    numBlocks,
    blockSize: PAGE,
    maxBlocksPerSeq: nbPer,
    scale: SCALE,
    maxSeqLen: s,
    ...(ws ? { workspace: ws } : {}),
  };
  rank.mlaDecode(args);
  await rank.synchronize();
  const graph = rank.captureGraph(() => rank.mlaDecode(args));
  const us = median(await rank.timeGraph(graph, iters, flush));
  graph.dispose();
  // Error on requests 0 and b−1, heads 0, 7 and h−1, against float64.
  let err = 0;
  const heads = [...new Set([0, 7, h - 1])];
  const outAll = new Uint16Array(b * h * DV);
  await rank.download(out, outAll);
  for (const t of [...new Set([0, b - 1])]) {
    const qRow = new Uint16Array(h * LATENT);
    await rank.download(q.at(t * h * LATENT * 2), qRow);
    const qF = bf16ToF64(qRow);
    const qSel = new Float64Array(heads.length * LATENT);
    for (const [i, hh] of heads.entries()) qSel.set(qF.subarray(hh * LATENT, (hh + 1) * LATENT), i * LATENT);
    const keys = new Float64Array(nbPer * PAGE * LATENT);
    for (let k = 0; k < nbPer; k++) {
      const blk = new Uint16Array(PAGE * LATENT);
      await rank.download(cache.at(perm[t * nbPer + k]! * PAGE * LATENT * 2), blk);
      keys.set(bf16ToF64(blk), k * PAGE * LATENT);
    }
    const ref = refAttention(
      qSel,
      0,
      heads.length,
      LATENT,
      DV,
      s,
      (j) => ({ data: keys, off: j * LATENT }),
      SCALE,
    );
    heads.forEach((hh, i) => {
      const got = bf16ToF64(outAll.subarray((t * h + hh) * DV, (t * h + hh + 1) * DV));
      err = Math.max(err, relError(got, ref.out.subarray(i * DV, (i + 1) * DV)));
    });
  }
  for (const x of [cache, q, table, lens, out, lse]) x.dispose();
  ws?.dispose();
  return { us, err, splits: plan.splits };
}

const p = probeCuda();
if (!p.available) {
  console.error(`mla-decode-cuda bench: no GPU (${p.reason})`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
const peersJson = join(outDir, 'mla-decode-peers.json');
let peers: PeerRun | null = null;
if (!argv.includes('--no-peers')) {
  // Beside this file, or (when run from a bundle) under the repository root.
  const script = [
    join(here, 'mla-decode-cuda-peers.py'),
    join(process.cwd(), 'tooling/bench/src/mla-decode-cuda-peers.py'),
  ].find((f) => existsSync(f));
  const py = spawnSync('python3', [script ?? 'mla-decode-cuda-peers.py', peersJson, JSON.stringify(shapes)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  if (py.status === 0) peers = JSON.parse(readFileSync(peersJson, 'utf8')) as PeerRun;
  else console.error(`peers script failed (status ${py.status}); continuing with ours only`);
}
const bw = peers?.copyBytesPerS ?? 4.26e12;
const mm = peers?.matmulFlopPerS ?? 791e12;

const rank = CudaRank.create(0);
const flush = rank.alloc(256 << 20);
const rows: string[] = [];
const fmt = (x: number | null | undefined, e?: number) =>
  x == null ? '—' : `${x.toFixed(x < 100 ? 1 : 0)}${e === undefined ? '' : ` (${e.toExponential(0)})`}`;
rows.push(
  '| h_q | b | s | floor µs | torch µs | Triton 4 splits µs | Triton tuned µs (splits) | FlashMLA µs | ours µs (splits) | ours GB/s | ours TFLOP/s | ours SOL% | ours err | vs Triton tuned |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
);
const notes = new Set<string>();
if (peers && !peers.haveFlashMla) notes.add(`FlashMLA: skipped, ${peers.flashmlaSkip ?? 'not importable'}`);
for (const [h, b, s] of shapes) {
  const iters = b * s <= 32 * 16384 ? 30 : 10;
  const o = await ours(rank, h, b, s, iters, flush);
  const bytes = b * s * LATENT * 2 + b * h * (LATENT * 2 + DV * 2 + 4);
  const flops = 2 * b * h * s * (LATENT + DV);
  const floor = Math.max(bytes / bw, flops / mm) * 1e6;
  const pr = peers?.shapes.find((x) => x.h === h && x.b === b && x.s === s);
  if (pr?.tritonNote) notes.add(`Triton: ${pr.tritonNote}`);
  if (pr?.flashmlaNote) notes.add(`FlashMLA: ${pr.flashmlaNote}`);
  const tuned = pr?.tritonTuned;
  rows.push(
    `| ${h} | ${b} | ${s} | ${floor.toFixed(1)} | ${fmt(pr?.torch, pr?.torchErr)} | ${fmt(pr?.triton4, pr?.tritonErr)} | ${
      tuned == null ? (pr?.tritonNote ? 'skipped' : '—') : `${fmt(tuned)} (${pr?.tritonSplits})`
    } | ${fmt(pr?.flashmla, pr?.flashmlaErr)} | ${fmt(o.us)} (${o.splits}) | ${(bytes / o.us / 1e3).toFixed(0)} | ${(
      flops / o.us / 1e6
    ).toFixed(0)} | ${((100 * floor) / o.us).toFixed(0)}% | ${o.err.toExponential(1)} | ${
      tuned == null ? '—' : `${(tuned / o.us).toFixed(2)}×`
    } |`,
  );
  console.error(rows[rows.length - 1]);
}
flush.dispose();
rank.dispose();
const head = [
  `Device: ${p.devices[0]?.name} (${p.devices[0]?.smCount} SMs); torch ${peers?.torch ?? '?'}, triton ${peers?.triton ?? '?'}.`,
  `Ceilings measured in this run: copy ${(bw / 1e12).toFixed(2)} TB/s (read + write), bf16 matmul ${(mm / 1e12).toFixed(0)} TFLOP/s.`,
  'Times: CUDA graph replays, cold L2, median; error in parentheses = relative L2 error vs float64.',
  ...[...notes].map((n) => `Note: ${n}`),
];
const md = `${head.join('\n')}\n\n${rows.join('\n')}\n`;
writeFileSync(join(outDir, 'mla-decode-h200.md'), md);
console.log(md);
