/**
 * @dcp/server under load: a real server (fastify on a loopback port, in this process) over the
 * embedded default of `dcp serve` — the `tiny` preset, dummy weights, `-tp 2 -dcp 2` on worker
 * threads — takes 256 concurrent STREAMING `/v1/completions` requests from a pool of fetch
 * clients. Checks: every stream parses, ends with `data: [DONE]` and a `length` finish with the
 * text the engine itself gives for that prompt; afterwards `/metrics` shows
 * `vllm:kv_cache_usage_perc` 0, `vllm:num_requests_running` 0 and every
 * `dcp:kv_cache_tokens_usage_perc{dcp_rank}` 0 (no leaked blocks).
 *
 * Baseline in the same run: the same 256 requests through `llm.generate` of the same engine
 * directly. Rounds alternate direct / server. Reported: requests/s of each, CPU seconds of the
 * process (rank threads, server and the in-process client pool together), engine steps, median and p95 of
 * time-to-first-token and time-to-last-token (from the moment all requests were issued), and the
 * server/direct ratios — the latency the HTTP layer (JSON, SSE, tokenizing, fastify) adds.
 * Bounded: BENCH_TIMEOUT_S (default 600) aborts the whole run with exit code 1.
 *
 * Run: pnpm turbo run build --filter=@dcp/server... && pnpm --filter @dcp/bench exec tsx src/server-load.bench.ts
 * Env: BENCH_CONCURRENCY (256), BENCH_PROMPT (8: seeded ids decoded to a text prompt, which the
 * server and the direct path both tokenize), BENCH_MAX_TOKENS (8), BENCH_ROUNDS (3).
 */
import { defaultEngineConfig } from '@dcp/config';
import type { TextTokenizer } from '@dcp/engine';
import type { CreatedEngine } from '@dcp/engine/node';
import { createEngine } from '@dcp/engine/node';
import { buildServer, createMetrics, type ServerContext } from '@dcp/server';

const envInt = (name: string, d: number) => {
  const v = process.env[name];
  const n = v === undefined ? d : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
};
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 256);
const PROMPT = envInt('BENCH_PROMPT', 8);
const MAX_TOKENS = envInt('BENCH_MAX_TOKENS', 8);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 600);

/** Per request: ms from issuing all requests to its first and last token; its text. */
interface Sample {
  ttft: number;
  ttlt: number;
  text: string;
}
interface Round {
  wallMs: number;
  samples: Sample[];
  /** CPU seconds of the whole process (driver, rank threads, HTTP clients); engine steps. */
  cpuS?: number;
  steps?: number;
}

/**
 * Distinct text prompts of about PROMPT tokens (decoded from seeded ids), with the ids the server
 * will tokenize them to. Text, not token ids: see the note on token-id prompts in the report.
 */
function prompts(tok: TextTokenizer): { text: string; ids: number[] }[] {
  let a = 987654321;
  return Array.from({ length: CONCURRENCY }, () => {
    const ids = Array.from({ length: PROMPT }, () => {
      a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return 6 + (a % 2000);
    });
    const text = tok.decode(ids);
    return { text, ids: tok.encode(text) };
  });
}

async function direct(e: CreatedEngine, ps: { ids: number[] }[], tag: string): Promise<Round> {
  const t0 = performance.now();
  const samples = await Promise.all(
    ps.map(async ({ ids }, i) => {
      let ttft = -1;
      let text = '';
      let tokens = 0;
      let finish: string | null = null;
      for await (const d of e.llm.generate({
        requestId: `${tag}-${i}`,
        promptTokenIds: ids,
        params: { maxTokens: MAX_TOKENS, temperature: 0, ignoreEos: true },
      })) {
        if (d.finishReason === 'error') throw new Error(d.error);
        if (ttft < 0 && d.newTokenIds.length > 0) ttft = performance.now() - t0;
        text += d.newText;
        tokens += d.newTokenIds.length;
        finish = d.finishReason;
      }
      if (tokens !== MAX_TOKENS || finish !== 'length')
        throw new Error(`direct ${i}: ${tokens} tokens, finish ${finish}`);
      return { ttft, ttlt: performance.now() - t0, text };
    }),
  );
  return { wallMs: performance.now() - t0, samples };
}

/** One streaming completion over HTTP, parsed as SSE; throws on anything off-protocol. */
async function streamOne(
  url: string,
  prompt: { text: string; ids: number[] },
  t0: number,
  i: number,
): Promise<Sample> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'tiny',
      prompt: prompt.text,
      max_tokens: MAX_TOKENS,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
    signal: AbortSignal.timeout(TIMEOUT_S * 1000),
  });
  if (res.status !== 200 || !res.body)
    throw new Error(`request ${i}: HTTP ${res.status} ${await res.text()}`);
  const decoder = new TextDecoder();
  let buf = '';
  let ttft = -1;
  let text = '';
  let finish: string | null = null;
  let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
  let done = false;
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let k = buf.indexOf('\n\n');
    while (k >= 0) {
      const event = buf.slice(0, k);
      buf = buf.slice(k + 2);
      k = buf.indexOf('\n\n');
      if (!event.startsWith('data: '))
        throw new Error(`request ${i}: bad SSE record ${JSON.stringify(event)}`);
      const data = event.slice(6);
      if (done) throw new Error(`request ${i}: data after [DONE]`);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const j = JSON.parse(data) as {
        choices?: { index: number; text: string; finish_reason: string | null }[];
        usage?: { prompt_tokens: number; completion_tokens: number };
        error?: unknown;
      };
      if (j.error) throw new Error(`request ${i}: ${JSON.stringify(j.error)}`);
      if (j.usage) usage = j.usage;
      const c = j.choices?.[0];
      if (!c) continue;
      if (j.choices!.length !== 1 || c.index !== 0) throw new Error(`request ${i}: a choice other than 0`);
      if (ttft < 0 && c.text !== '') ttft = performance.now() - t0;
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  if (!done) throw new Error(`request ${i}: stream ended without data: [DONE]`);
  if (finish !== 'length') throw new Error(`request ${i}: finish_reason ${finish}, expected length`);
  if (usage?.prompt_tokens !== prompt.ids.length || usage.completion_tokens !== MAX_TOKENS)
    throw new Error(
      `request ${i}: usage ${JSON.stringify(usage)}, expected ${prompt.ids.length} + ${MAX_TOKENS}`,
    );
  return { ttft, ttlt: performance.now() - t0, text };
}

async function viaServer(url: string, ps: { text: string; ids: number[] }[]): Promise<Round> {
  const t0 = performance.now();
  const samples = await Promise.all(ps.map((p, i) => streamOne(url, p, t0, i)));
  return { wallMs: performance.now() - t0, samples };
}

/** Values of one metric family from a Prometheus text page (label set → value). */
function metricValues(page: string, name: string): number[] {
  return page
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => Number(l.split(' ').at(-1)));
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main() {
  const c = defaultEngineConfig();
  c.model = 'tiny';
  c.load.loadFormat = 'dummy';
  c.parallel.tp = 2;
  c.parallel.dcp = 2;
  const e = await createEngine(c, { log: () => {} });
  const ctx: ServerContext = {
    llm: e.llm,
    tokenizer: e.tokenizer,
    servedModelNames: ['tiny'],
    maxModelLen: e.maxModelLen,
    apiKey: null,
    maxLogLen: 0,
    version: 'bench',
    metrics: createMetrics(e.engine, 'tiny'),
  };
  const app = buildServer(ctx, { logger: false });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  let failed = false;
  try {
    if (!e.tokenizer) throw new Error('tiny has a tokenizer: expected one');
    const ps = prompts(e.tokenizer);
    await direct(e, ps.slice(0, 4), 'warm');
    await viaServer(url, ps.slice(0, 4));
    let steps = 0;
    e.llm.onStep = () => void steps++;
    const measure = async (f: () => Promise<Round>): Promise<Round> => {
      const c0 = process.cpuUsage();
      const s0 = steps;
      const r = await f();
      const u = process.cpuUsage(c0);
      return { ...r, cpuS: (u.user + u.system) / 1e6, steps: steps - s0 };
    };
    const d: Round[] = [];
    const s: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      d.push(await measure(() => direct(e, ps, `r${r}`)));
      s.push(await measure(() => viaServer(url, ps)));
    }
    // Same greedy text per prompt over HTTP as from the engine directly.
    const want = d[0]!.samples.map((x) => x.text);
    const bad = s
      .flatMap((r) => r.samples)
      .map((x, k) => [x.text, want[k % CONCURRENCY]!])
      .filter(([a, b]) => a !== b);
    const mismatched = bad.length;
    if (bad.length > 0) console.log(`first mismatch (server, direct): ${JSON.stringify(bad[0])}`);
    const page = await (await fetch(`${url}/metrics`)).text();
    const leaks = {
      'vllm:kv_cache_usage_perc': metricValues(page, 'vllm:kv_cache_usage_perc'),
      'vllm:num_requests_running': metricValues(page, 'vllm:num_requests_running'),
      'vllm:num_requests_waiting': metricValues(page, 'vllm:num_requests_waiting'),
      'dcp:kv_cache_tokens_usage_perc': metricValues(page, 'dcp:kv_cache_tokens_usage_perc'),
    };
    const health = (await fetch(`${url}/health`)).status;

    /** One round's figures; a path's row is the median over its rounds. */
    const figures = (r: Round) => {
      const q = (k: 'ttft' | 'ttlt', p: number) =>
        quantile(
          r.samples.map((x) => x[k]),
          p,
        );
      return {
        'req/s': CONCURRENCY / (r.wallMs / 1000),
        'CPU s': r.cpuS ?? 0,
        steps: r.steps ?? 0,
        'TTFT p50 ms': q('ttft', 0.5),
        'TTFT p95 ms': q('ttft', 0.95),
        'TTLT p50 ms': q('ttlt', 0.5),
        'TTLT p95 ms': q('ttlt', 0.95),
      };
    };
    type Figures = ReturnType<typeof figures>;
    const keys = Object.keys(figures(d[0]!)) as (keyof Figures)[];
    const row = (path: string, rs: Round[]) => {
      const f = rs.map(figures);
      const out: Record<string, string> = { path };
      for (const k of keys)
        out[k] = median(f.map((x) => x[k])).toFixed(k === 'req/s' || k === 'CPU s' ? 1 : 0);
      return out;
    };
    console.log(
      `embedded default (tiny, dummy weights, tp2·dcp2, backend ${String(e.rankInfo[0]?.backend)}), ${CONCURRENCY} concurrent streaming completions, ` +
        `text prompts of ${PROMPT} seeded ids, max_tokens ${MAX_TOKENS}, greedy, ignore_eos; ${ROUNDS} rounds, ` +
        "direct and server alternating; each figure is the median over the rounds of that round's value",
    );
    console.table([row('engine direct (llm.generate)', d), row('HTTP server (SSE, fetch pool)', s)]);
    console.log(
      `round walls (s): direct ${d.map((r) => (r.wallMs / 1000).toFixed(1)).join(', ')}; server ${s.map((r) => (r.wallMs / 1000).toFixed(1)).join(', ')}`,
    );
    // Ratios of each round's server figure over the direct figure of the same round (adjacent in time).
    const ratio = (k: keyof Figures) =>
      `×${median(d.map((r, i) => figures(s[i]!)[k] / figures(r)[k])).toFixed(2)}`;
    const added = median(d.map((r, i) => figures(s[i]!)['TTLT p50 ms'] - figures(r)['TTLT p50 ms']));
    console.log(
      `server / direct (median of per-round ratios): req/s ${ratio('req/s')}, CPU s ${ratio('CPU s')}, ` +
        `engine steps ${ratio('steps')}, TTFT p50 ${ratio('TTFT p50 ms')}, TTLT p50 ${ratio('TTLT p50 ms')}, ` +
        `TTLT p95 ${ratio('TTLT p95 ms')}; TTLT p50 added by the server ${added.toFixed(0)} ms`,
    );
    console.log(
      `all ${CONCURRENCY * ROUNDS} streams ended with data: [DONE]; text differing from the direct engine: ${mismatched}`,
    );
    console.log(`after the run: ${JSON.stringify(leaks)}; /health ${health}`);
    const nonzero = Object.entries(leaks).filter(([, v]) => v.length === 0 || v.some((x) => x !== 0));
    if (nonzero.length > 0 || mismatched > 0 || health !== 200) {
      console.error(
        `FAIL: ${nonzero.map(([k]) => k).join(', ') || 'no leak'}; ${mismatched} mismatched texts; health ${health}`,
      );
      failed = true;
    }
  } finally {
    await app.close();
    await e.llm.shutdown();
  }
  if (failed) process.exitCode = 1;
}

const guard = setTimeout(() => {
  console.error(`FAIL: did not finish within ${TIMEOUT_S} s`);
  process.exit(1);
}, TIMEOUT_S * 1000);
guard.unref();
await main();
