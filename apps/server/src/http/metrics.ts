import type { LLMEngine } from '@dcp/engine';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The server's Prometheus metrics, with vLLM's names where one exists (counters carry `_total`
 * in their names themselves). One `Registry` per server, no global state.
 */
export interface Metrics {
  registry: Registry;
  promptTokens: Counter;
  generationTokens: Counter;
  requestSuccess: Counter<'finished_reason'>;
  ttft: Histogram;
  itl: Histogram;
  e2e: Histogram;
  /** Refreshes the gauges and cache counters from the engine (call before scraping). */
  refresh(): void;
}

const latencyBuckets = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];

/** Creates the metrics of a server serving `modelName` on `engine` (per-DCP-rank KV usage included). */
export function createMetrics(engine: LLMEngine, modelName: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: modelName });
  const opts = { registers: [registry] };
  const running = new Gauge({
    name: 'vllm:num_requests_running',
    help: 'Requests in the running batch.',
    ...opts,
  });
  const waiting = new Gauge({ name: 'vllm:num_requests_waiting', help: 'Requests waiting to run.', ...opts });
  const kvUsage = new Gauge({
    name: 'vllm:kv_cache_usage_perc',
    help: 'KV-cache usage: 1 means full.',
    ...opts,
  });
  const rankUsage = new Gauge({
    name: 'dcp:kv_cache_tokens_usage_perc',
    help: 'Share of each DCP rank’s KV slots holding tokens of running requests (1 means full).',
    labelNames: ['dcp_rank'],
    ...opts,
  });
  const queries = new Counter({
    name: 'vllm:prefix_cache_queries_total',
    help: 'Prefix-cache queries, in tokens.',
    ...opts,
  });
  const hits = new Counter({
    name: 'vllm:prefix_cache_hits_total',
    help: 'Prefix-cache hits, in tokens.',
    ...opts,
  });
  const preemptions = new Counter({ name: 'vllm:num_preemptions_total', help: 'Preemptions.', ...opts });
  let seen = { queries: 0, hits: 0, preemptions: 0 };
  return {
    registry,
    promptTokens: new Counter({
      name: 'vllm:prompt_tokens_total',
      help: 'Prefill tokens processed.',
      ...opts,
    }),
    generationTokens: new Counter({
      name: 'vllm:generation_tokens_total',
      help: 'Tokens generated.',
      ...opts,
    }),
    requestSuccess: new Counter({
      name: 'vllm:request_success_total',
      help: 'Finished requests by finish reason.',
      labelNames: ['finished_reason'],
      ...opts,
    }),
    ttft: new Histogram({
      name: 'vllm:time_to_first_token_seconds',
      help: 'Time to first token.',
      buckets: latencyBuckets,
      ...opts,
    }),
    itl: new Histogram({
      name: 'vllm:inter_token_latency_seconds',
      help: 'Time between tokens.',
      buckets: latencyBuckets,
      ...opts,
    }),
    e2e: new Histogram({
      name: 'vllm:e2e_request_latency_seconds',
      help: 'Request latency.',
      buckets: latencyBuckets,
      ...opts,
    }),
    refresh() {
      const s = engine.getStats();
      running.set(s.numRunning);
      waiting.set(s.numWaiting);
      kvUsage.set(s.kvCacheUsage);
      queries.inc(s.prefixCacheQueries - seen.queries);
      hits.inc(s.prefixCacheHits - seen.hits);
      preemptions.inc(s.numPreemptionsTotal - seen.preemptions);
      seen = { queries: s.prefixCacheQueries, hits: s.prefixCacheHits, preemptions: s.numPreemptionsTotal };
      for (const [r, u] of engine.kvUsagePerDcpRank().entries()) rankUsage.set({ dcp_rank: String(r) }, u);
    },
  };
}
