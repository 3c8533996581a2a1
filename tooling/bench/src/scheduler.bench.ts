/**
 * @dcp/scheduler: µs per engine step (`schedule()` + `updateFromOutput()`) with 256 and 1,024
 * running decode requests, and with one large prompt in chunked prefill. Each scenario runs over
 * the real `@dcp/kv-cache` manager (block size 16, prefix caching on) and over a bare bump-pointer
 * manager (isolating the scheduler's own cost), and is compared with a baseline measured in the
 * same run: a loop that only walks the same number of request objects and bumps their counters.
 * Goal: ≤ 300 µs per step at 256 running requests.
 *
 * Run: pnpm turbo run build --filter=@dcp/scheduler... && pnpm --dir tooling/bench exec tsx src/scheduler.bench.ts
 */
import {
  createKVCacheManager,
  type KVCacheBlocks,
  type KVCacheManager,
  type KVCacheRequest,
} from '@dcp/kv-cache';
import { Scheduler, type SchedulerOutput } from '@dcp/scheduler';

const BLOCK_SIZE = 16;
const VOCAB = 129280;
const GOAL_US_AT_256 = 300;

/** A KV manager with no prefix cache and no free list: it only counts and hands out ids. */
function bareManager(numBlocks: number): KVCacheManager {
  const tables = new Map<string, number[]>();
  let nextId = 1;
  const blocks = (blockIds: number[]): KVCacheBlocks => ({ blockIds, __kvCacheBlocks: true });
  const empty = blocks([]);
  return {
    virtualBlockSize: BLOCK_SIZE,
    numBlocks,
    tokenCapacity: (numBlocks - 1) * BLOCK_SIZE,
    usage: 0,
    numFreeBlocks: numBlocks - 1,
    getComputedBlocks: () => ({ blocks: empty, numComputedTokens: 0 }),
    allocateSlots(req: KVCacheRequest, n: number) {
      let t = tables.get(req.requestId);
      if (t === undefined) tables.set(req.requestId, (t = []));
      const need = Math.ceil((req.numComputedTokens + n) / BLOCK_SIZE) - t.length;
      if (need <= 0) return empty;
      const fresh: number[] = [];
      for (let k = 0; k < need; k++) fresh.push(nextId++);
      t.push(...fresh);
      return blocks(fresh);
    },
    free: (req: KVCacheRequest) => void tables.delete(req.requestId),
    getBlockIds: (id: string) => tables.get(id) ?? [],
    emptyBlocks: () => empty,
    resetPrefixCache: () => true,
    takeStats: () => ({ requests: 0, queries: 0, hits: 0, reset: false }),
    takeEvents: () => [],
  };
}

function seededTokens(seed: number, n: number): number[] {
  let a = seed >>> 0;
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    out[i] = a % VOCAB;
  }
  return out;
}

/** The fake model's samples for a step: one token for every request whose tokens are all computed. */
function sample(s: Scheduler, out: SchedulerOutput, step: number): Record<string, number[]> {
  const sampled: Record<string, number[]> = {};
  for (const c of [...out.scheduledCachedRequests, ...out.scheduledNewRequests]) {
    const r = s.getRequest(c.requestId);
    if (r !== undefined && c.numComputedTokens + c.numScheduledTokens >= r.allTokenIds.length) {
      sampled[c.requestId] = [(step * 7919 + c.numComputedTokens) % VOCAB];
    }
  }
  return sampled;
}

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const v = [...xs].sort((x, y) => x - y);
  return v[v.length >> 1]!;
}

/**
 * Median µs per step of `schedule()` + `updateFromOutput()` over `steps` steps (sampling not
 * timed). The median of per-step times stays honest on a loaded machine, where a mean would
 * count the time other processes held the core.
 */
function timeSteps(s: Scheduler, steps: number, until?: () => boolean): number {
  const per: number[] = [];
  for (let k = 0; k < steps && (until === undefined || !until()); k++) {
    const t0 = performance.now();
    const out = s.schedule();
    const t1 = performance.now();
    const sampled = sample(s, out, k);
    const t2 = performance.now();
    s.updateFromOutput(out, sampled);
    per.push((t1 - t0 + performance.now() - t2) * 1000);
  }
  return median(per);
}

/** `running` decode requests with 512-token prompts, prefilled before timing `steps` decode steps. */
function decodeScenario(running: number, real: boolean, steps: number): number {
  const numBlocks = running * Math.ceil((512 + steps + 300) / BLOCK_SIZE) + 1;
  const kv = real ? createKVCacheManager({ numBlocks, blockSize: BLOCK_SIZE }) : bareManager(numBlocks);
  const s = new Scheduler({
    kvCacheManager: kv,
    maxNumBatchedTokens: 8192,
    maxNumSeqs: running,
    maxModelLen: 4096,
  });
  for (let r = 0; r < running; r++) {
    const promptTokenIds = seededTokens(r + 1, 512);
    s.addRequest({ requestId: `r${r}`, promptTokenIds, sampling: { maxTokens: 2048, ignoreEos: true } });
  }
  while (s.getRequest(`r${running - 1}`)!.outputTokenIds.length === 0) {
    const out = s.schedule();
    s.updateFromOutput(out, sample(s, out, 0));
  }
  timeSteps(s, 50); // warm-up
  return timeSteps(s, steps);
}

/** One 65,536-token prompt in 2,048-token chunks: µs per step over its 32 steps, best of `reps`. */
function chunkedPrefillScenario(real: boolean, reps: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < reps; rep++) {
    const len = 65536;
    const numBlocks = len / BLOCK_SIZE + 2;
    const kv = real ? createKVCacheManager({ numBlocks, blockSize: BLOCK_SIZE }) : bareManager(numBlocks);
    const s = new Scheduler({
      kvCacheManager: kv,
      maxNumBatchedTokens: 2048,
      maxNumSeqs: 8,
      maxModelLen: len + 1,
    });
    const req = s.addRequest({
      requestId: 'p',
      promptTokenIds: seededTokens(1000 + rep, len),
      sampling: { maxTokens: 1 },
    });
    best = Math.min(
      best,
      timeSteps(s, 1000, () => req.status === 'finished'),
    );
  }
  return best;
}

/** Baseline: walk `n` request-like objects per step, bump counters, push one token each (median µs). */
function baseline(n: number, steps: number): number {
  const reqs = Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    computed: 512,
    tokens: seededTokens(i, 512),
  }));
  let sink = 0;
  const per: number[] = [];
  for (let k = 0; k < steps; k++) {
    const t0 = performance.now();
    for (const r of reqs) {
      r.tokens.push((k + r.computed) % VOCAB);
      r.computed++;
      sink += r.computed;
    }
    per.push((performance.now() - t0) * 1000);
  }
  if (sink < 0) console.log(sink);
  return median(per.slice(steps >> 2)); // the first quarter warms up the JIT
}

const rows: Array<[string, number, number]> = [];
for (const running of [256, 1024]) {
  const steps = running === 256 ? 400 : 200;
  const base = baseline(running, steps);
  rows.push([`${running} decodes, real kv-cache`, decodeScenario(running, true, steps), base]);
  rows.push([`${running} decodes, bare manager`, decodeScenario(running, false, steps), base]);
}
const chunkBase = baseline(1, 1000);
rows.push([
  '65,536-token chunked prefill (2,048/step), real kv-cache',
  chunkedPrefillScenario(true, 3),
  chunkBase,
]);
rows.push([
  '65,536-token chunked prefill (2,048/step), bare manager',
  chunkedPrefillScenario(false, 3),
  chunkBase,
]);

console.log('@dcp/scheduler: median µs per step (schedule + updateFromOutput)');
for (const [name, us, base] of rows) {
  console.log(
    `  ${name.padEnd(58)} ${us.toFixed(1).padStart(8)} µs   baseline ${base.toFixed(2).padStart(7)} µs   ×${(us / base).toFixed(1)}`,
  );
}
const at256 = rows[0]![1];
console.log(
  `goal ≤ ${GOAL_US_AT_256} µs at 256 running (real kv-cache): ${at256.toFixed(1)} µs → ${at256 <= GOAL_US_AT_256 ? 'met' : 'NOT met'}`,
);
