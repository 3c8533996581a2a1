/**
 * @dcp/engine: output tokens/s of the `tiny` preset (dummy weights, CPU backend, worker threads)
 * for tp1·dcp1 (baseline), tp2·dcp1 and tp2·dcp2 — the last two on the same two rank threads —
 * on a decode-heavy load: 16 concurrent requests, 64-token prompts, 64 generated tokens each,
 * greedy, EOS ignored. Also the KV token capacity of each layout at the same
 * `--kv-cache-memory-bytes` per rank (tp2·dcp2 must hold ×2 the tokens of tp2·dcp1).
 *
 * All three engines stay up and the layouts take turns round by round, so a busy shared machine
 * slows them alike; the table shows medians over the rounds. CPU time is the process total (the
 * driver plus every rank thread), so tokens per CPU-second is steadier than wall time when other
 * work shares the cores. Greedy tokens of every layout are compared with tp1's (same dummy
 * weights), as a check that the run measured real generation.
 *
 * Run: pnpm turbo run build --filter=@dcp/engine... && pnpm --filter @dcp/bench exec tsx src/engine.bench.ts
 * Env: BENCH_REQUESTS (16), BENCH_PROMPT (64), BENCH_GEN (64), BENCH_ROUNDS (3), BENCH_KV_MIB (32).
 */
import { defaultEngineConfig } from '@dcp/config';
import { type CreatedEngine, createEngine } from '@dcp/engine/node';

const envInt = (name: string, d: number) => {
  const v = process.env[name];
  const n = v === undefined ? d : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
};
const REQUESTS = envInt('BENCH_REQUESTS', 16);
const PROMPT = envInt('BENCH_PROMPT', 64);
const GEN = envInt('BENCH_GEN', 64);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const KV_BYTES = envInt('BENCH_KV_MIB', 32) * 2 ** 20;

interface Layout {
  name: string;
  tp: number;
  dcp: number;
}
const LAYOUTS: Layout[] = [
  { name: 'tp1·dcp1', tp: 1, dcp: 1 },
  { name: 'tp2·dcp1', tp: 2, dcp: 1 },
  { name: 'tp2·dcp2', tp: 2, dcp: 2 },
];

async function start(l: Layout): Promise<CreatedEngine> {
  const c = defaultEngineConfig();
  c.model = 'tiny';
  c.load.loadFormat = 'dummy';
  c.parallel.tp = l.tp;
  c.parallel.dcp = l.dcp;
  c.cache.kvCacheMemoryBytes = KV_BYTES;
  c.scheduler.maxNumSeqs = REQUESTS;
  return createEngine(c, { log: () => {} });
}

/** Distinct prompts (no prefix-cache hits), the same for every layout. */
function prompts(): number[][] {
  let a = 12345;
  return Array.from({ length: REQUESTS }, () =>
    Array.from({ length: PROMPT }, () => {
      a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return 3 + (a % 2000);
    }),
  );
}

interface Run {
  wallS: number;
  cpuS: number;
  /** Seconds from the start until every request had its first token. */
  prefillS: number;
  tokens: number[][];
}

async function runOnce(e: CreatedEngine, ps: number[][], tag: string): Promise<Run> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let lastFirst = 0;
  const tokens = await Promise.all(
    ps.map(async (p, i) => {
      const out: number[] = [];
      for await (const d of e.llm.generate({
        requestId: `${tag}-${i}`,
        promptTokenIds: p,
        params: { maxTokens: GEN, temperature: 0, ignoreEos: true },
      })) {
        if (d.finishReason === 'error') throw new Error(d.error);
        if (out.length === 0 && d.newTokenIds.length > 0) lastFirst = Math.max(lastFirst, performance.now());
        out.push(...d.newTokenIds);
      }
      if (out.length !== GEN) throw new Error(`${tag}-${i}: ${out.length} tokens, expected ${GEN}`);
      return out;
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(cpu0);
  return { wallS, cpuS: (u.user + u.system) / 1e6, prefillS: (lastFirst - t0) / 1000, tokens };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main() {
  const ps = prompts();
  const engines: CreatedEngine[] = [];
  for (const l of LAYOUTS) engines.push(await start(l));
  try {
    // Warm-up (JIT, buffers): a short run per layout, untimed.
    for (const [i, e] of engines.entries()) {
      for await (const _ of e.llm.generate({
        requestId: `warm${i}`,
        promptTokenIds: ps[0]!,
        params: { maxTokens: 4, temperature: 0, ignoreEos: true },
      }));
    }
    const runs: Run[][] = LAYOUTS.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, e] of engines.entries()) runs[i]!.push(await runOnce(e, ps, `r${r}`));
    }
    const total = REQUESTS * GEN;
    const decodeTokens = REQUESTS * (GEN - 1);
    const ref = runs[0]![0]!.tokens;
    const rows = LAYOUTS.map((l, i) => {
      const rs = runs[i]!;
      const wall = median(rs.map((x) => x.wallS));
      const cpu = median(rs.map((x) => x.cpuS));
      const decodeS = median(rs.map((x) => x.wallS - x.prefillS));
      const same = rs[0]!.tokens.filter((t, k) => t.join() === ref[k]!.join()).length;
      return {
        layout: l.name,
        threads: engines[i]!.topology.worldSize,
        'wall s': wall.toFixed(2),
        'tok/s': (total / wall).toFixed(1),
        'decode tok/s': (decodeTokens / decodeS).toFixed(1),
        'tok/CPU-s': (total / cpu).toFixed(1),
        'KV blocks/rank': engines[i]!.kv.numBlocks,
        'KV tokens': engines[i]!.kv.tokenCapacity,
        'same tokens as tp1': `${same}/${REQUESTS}`,
        _tps: total / wall,
        _cps: total / cpu,
        _cap: engines[i]!.kv.tokenCapacity,
      };
    });
    console.log(
      `tiny (dummy weights, backend ${String(engines[0]!.rankInfo[0]?.backend)}), ${REQUESTS} concurrent × (${PROMPT} prompt + ${GEN} generated, greedy, ignore EOS), ` +
        `--kv-cache-memory-bytes ${KV_BYTES} per rank, median of ${ROUNDS} rounds`,
    );
    console.table(rows.map(({ _tps, _cps, _cap, ...r }) => r));
    const [t1, d1, d2] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    const f = (x: number) => x.toFixed(2);
    console.log(
      `tp2·dcp2 / tp2·dcp1: tok/s ×${f(d2._tps / d1._tps)}, tok/CPU-s ×${f(d2._cps / d1._cps)}, KV tokens ×${f(d2._cap / d1._cap)}`,
    );
    console.log(
      `tp2·dcp1 / tp1·dcp1: tok/s ×${f(d1._tps / t1._tps)}, tok/CPU-s ×${f(d1._cps / t1._cps)}, KV tokens ×${f(d1._cap / t1._cap)}`,
    );
    if (d2._cap !== 2 * d1._cap) {
      console.error(`FAIL: tp2·dcp2 holds ${d2._cap} KV tokens, expected 2 × ${d1._cap}`);
      process.exitCode = 1;
    }
  } finally {
    for (const e of engines) await e.llm.shutdown();
  }
}

await main();
