/**
 * @dcp/cpu-mla: one decode-attention step for 8 requests × 16k tokens, tp2·dcp1 (each rank holds
 * every token, H/2 heads) against tp2·dcp2 (each rank holds half the tokens, attends with all H
 * gathered heads, then merges by LSE), on the same two worker threads. Prints the time ratio
 * (goal ≤ 1.1) and the KV bytes per rank (must halve). The merged dcp2 output is checked against
 * dcp1's on every run.
 *
 * Run: pnpm turbo run build --filter=@dcp/cpu-mla... && pnpm --dir tooling/bench exec tsx src/cpu-mla.bench.ts
 * Options: --rounds N (default 4), --tokens N (default 16384), --scale128 F (divide the token count of the 128-head case by F;
 * default 8, since 128 heads × 16k × 8 takes about a minute per step on a shared 2-core host).
 */
import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';

// Workers load built JavaScript: hand them the resolved dist URLs of the workspace packages.
const URLS = {
  cpu: import.meta.resolve('@dcp/cpu-mla'),
  backend: import.meta.resolve('@dcp/backend'),
  ps: import.meta.resolve('@dcp/parallel-state'),
  psNode: import.meta.resolve('@dcp/parallel-state/node'),
};

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 4);
const SCALE_128 = arg('scale128', 8);
const [REQS, TOKENS, BLOCK, L, R] = [8, arg('tokens', 16384), 64, 512, 64];
const WIDTH = L + R;

// One rank. Holds both layouts' caches and runs them alternately on the same thread.
const WORKER = `
const { workerData: d, parentPort } = require('node:worker_threads');
(async () => {
  const { createCpuMlaBackend } = await import(d.urls.cpu);
  const { lseCombine } = await import(d.urls.backend);
  const { threadGroupsFor } = await import(d.urls.psNode);
  const { rank, H, T, REQS, B, L, W } = d;
  const b = createCpuMlaBackend();
  // Deterministic values from (request, position, column), so both layouts hold the same sequence.
  const val = (q, p, k) => {
    let x = Math.imul(q + 1, 0x9e3779b1) ^ Math.imul(p + 7, 0x85ebca6b) ^ Math.imul(k + 13, 0xc2b2ae35);
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
    return ((x ^ (x >>> 12)) >>> 0) / 4294967296 - 0.5;
  };
  const build = (dcp) => {
    const local = T / dcp; // interleave 1: local index j holds global position j·dcp + (rank % dcp)
    const bpr = Math.ceil(local / B);
    const cache = b.alloc([REQS * bpr, B, W], 'f32');
    const row = new Float32Array(W);
    for (let q = 0; q < REQS; q++)
      for (let j = 0; j < local; j++) {
        const p = j * dcp + (rank % dcp);
        for (let k = 0; k < W; k++) row[k] = val(q, p, k);
        b.write(cache, row, ((q * bpr + Math.floor(j / B)) * B + (j % B)) * W);
      }
    const bt = b.upload(Int32Array.from({ length: REQS * bpr }, (_, i) => i), [REQS, bpr], 'i32');
    const lens = b.upload(new Int32Array(REQS).fill(local), [REQS], 'i32');
    return { cache, bt, lens, bytes: REQS * bpr * B * W * 4, tokens: REQS * local };
  };
  const hl = H / 2; // tp 2: this rank's heads are [rank·hl, (rank+1)·hl)
  const qv = new Float32Array(REQS * hl * W);
  for (let q = 0; q < REQS; q++) for (let h = 0; h < hl; h++) for (let k = 0; k < W; k++) qv[(q * hl + h) * W + k] = val(1000 + q, rank * hl + h, k);
  const qLocal = b.upload(qv, [REQS, hl, W], 'f32');
  const scale = 1 / Math.sqrt(W);
  const layouts = { dcp1: build(1), dcp2: build(2) };
  const g1 = threadGroupsFor(d.state1, rank);
  const g2 = threadGroupsFor(d.state2, rank);
  const step = async (name) => {
    if (name === 'dcp1') {
      const { cache, bt, lens } = layouts.dcp1;
      const out = b.alloc([REQS, hl, L], 'f32');
      const lse = b.alloc([REQS, hl], 'f32');
      b.mlaDecode(qLocal, cache, { blockTable: bt, seqLens: lens }, scale, out, lse);
      return out;
    }
    const comm = g2.dcp;
    const { cache, bt, lens } = layouts.dcp2;
    const gathered = await comm.allGather(b.commBuffer(qLocal), [REQS, hl, W], 1);
    const q = b.fromCommBuffer(gathered, [REQS, H, W], 'f32');
    const out = b.alloc([REQS, H, L], 'f32');
    const lse = b.alloc([REQS, H], 'f32');
    b.mlaDecode(q, cache, { blockTable: bt, seqLens: lens }, scale, out, lse);
    return (await lseCombine(b, comm, out, lse, { mode: name === 'dcp2-a2a' ? 'a2a' : 'ag_rs' })).out;
  };
  const times = { dcp1: [], dcp2: [], 'dcp2-a2a': [] };
  const outs = {};
  for (let round = 0; round < d.rounds; round++)
    for (const name of ['dcp1', 'dcp2', 'dcp2-a2a']) {
      await g1.world.barrier();
      const t0 = performance.now();
      const out = await step(name);
      await g1.world.barrier();
      times[name].push(performance.now() - t0);
      outs[name] = out;
    }
  const o1 = await b.download(outs.dcp1);
  let maxDiff = 0;
  for (const name of ['dcp2', 'dcp2-a2a']) {
    const o2 = await b.download(outs[name]);
    for (let i = 0; i < o1.length; i++) maxDiff = Math.max(maxDiff, Math.abs(o1[i] - o2[i]));
  }
  parentPort.postMessage({ ok: true, times, maxDiff, kv: { dcp1: layouts.dcp1.bytes, dcp2: layouts.dcp2.bytes }, tokens: { dcp1: layouts.dcp1.tokens, dcp2: layouts.dcp2.tokens } });
})().catch((e) => parentPort.postMessage({ ok: false, error: String((e && e.stack) || e) }));
`;

interface Result {
  ok: boolean;
  error?: string;
  times: Record<string, number[]>;
  maxDiff: number;
  kv: Record<string, number>;
  tokens: Record<string, number>;
}

async function runCase(H: number, T: number): Promise<Result[]> {
  const { makeTopology } = await import(URLS.ps);
  const { createThreadCommState, watchWorkers } = await import(URLS.psNode);
  const opts = { timeoutMs: 600_000, slotBytes: 4 * 1024 * 1024 };
  const state1 = createThreadCommState(makeTopology({ tp: 2, dcp: 1 }), opts);
  const state2 = createThreadCommState(makeTopology({ tp: 2, dcp: 2 }), opts);
  const workers = [0, 1].map(
    (rank) =>
      new Worker(WORKER, {
        eval: true,
        workerData: { urls: URLS, state1, state2, rank, H, T, REQS, B: BLOCK, L, W: WIDTH, rounds: ROUNDS },
      }),
  );
  watchWorkers(state1, workers);
  watchWorkers(state2, workers);
  const res = await Promise.all(
    workers.map(
      (w) =>
        new Promise<Result>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  await Promise.all(workers.map((w) => w.terminate()));
  for (const r of res) if (!r.ok) throw new Error(r.error);
  return res;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
console.log(
  `cpu-mla decode attention: ${REQS} requests, latent ${L}+${R}, block ${BLOCK}, f32 KV, 2 worker threads, best of ${ROUNDS} alternating rounds`,
);
console.log(
  `host: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} (ratios are only meaningful on a quiet host)`,
);
for (const H of [16, 128]) {
  const T = H === 128 ? TOKENS / SCALE_128 : TOKENS;
  const res = await runCase(H, T);
  // Steps are timed barrier to barrier on rank 0 (so they include the slower rank); best round.
  const r0 = res[0]!;
  const t = (name: string) => Math.min(...r0.times[name]!);
  const med = (name: string) => {
    const v = [...r0.times[name]!].sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  const [t1, t2, t3] = [t('dcp1'), t('dcp2'), t('dcp2-a2a')];
  console.log(
    `\n${H} heads × ${T} tokens${H === 128 && SCALE_128 !== 1 ? ` (16k scaled down by ${SCALE_128})` : ''}`,
  );
  console.log(
    `  tp2·dcp1        ${t1.toFixed(0)} ms/step   KV per rank ${mib(r0.kv.dcp1!)} (${r0.tokens.dcp1} tokens)`,
  );
  console.log(
    `  tp2·dcp2 ag_rs  ${t2.toFixed(0)} ms/step   ${(t2 / t1).toFixed(2)}× tp2·dcp1 (goal ≤ 1.10)   KV per rank ${mib(r0.kv.dcp2!)} (${(r0.kv.dcp2! / r0.kv.dcp1!).toFixed(2)}× of dcp1; must be 0.50)`,
  );
  console.log(`  tp2·dcp2 a2a    ${t3.toFixed(0)} ms/step   ${(t3 / t1).toFixed(2)}× tp2·dcp1`);
  console.log(
    `  medians: dcp1 ${med('dcp1').toFixed(0)} ms, dcp2 ag_rs ${med('dcp2').toFixed(0)} ms (${(med('dcp2') / med('dcp1')).toFixed(2)}×), a2a ${med('dcp2-a2a').toFixed(0)} ms (${(med('dcp2-a2a') / med('dcp1')).toFixed(2)}×)`,
  );
  console.log(
    `  max |dcp2 − dcp1| over merged outputs: ${Math.max(...res.map((r) => r.maxDiff)).toExponential(1)}`,
  );
}
