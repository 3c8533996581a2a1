import { createKVCacheManager, type KVCacheManagerOptions } from '@dcp/kv-cache';
import type { SchedulerOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { FakeWorker } from './test-helpers.js';
import type { RequestOutput, SchedulerOutput } from './types.js';

/** Test options: the KV manager's and the scheduler's, with small defaults. */
export type SetupOptions = Partial<Omit<SchedulerOptions, 'kvCacheManager'>> & Partial<KVCacheManagerOptions>;

/** A scheduler over a real `@dcp/kv-cache` manager plus a fake worker, and a one-step driver. */
export function setup(o: SetupOptions = {}, vocab = 1000) {
  const kv = createKVCacheManager({
    numBlocks: o.numBlocks ?? 65,
    blockSize: o.blockSize ?? 4,
    dcp: o.dcp ?? 1,
    enablePrefixCaching: o.enablePrefixCaching ?? true,
  });
  const s = new Scheduler({
    kvCacheManager: kv,
    maxNumBatchedTokens: o.maxNumBatchedTokens ?? 16,
    maxNumSeqs: o.maxNumSeqs ?? 8,
    maxModelLen: o.maxModelLen ?? 128,
    enableChunkedPrefill: o.enableChunkedPrefill ?? true,
    longPrefillTokenThreshold: o.longPrefillTokenThreshold ?? 0,
    policy: o.policy ?? 'fcfs',
    eosTokenId: o.eosTokenId ?? null,
    clock: o.clock ?? (() => 0),
  });
  const worker = new FakeWorker(kv.virtualBlockSize, vocab);
  /** schedule → fake model → updateFromOutput. */
  const step = (): { out: SchedulerOutput; res: RequestOutput[] } => {
    const out = s.schedule();
    return { out, res: s.updateFromOutput(out, worker.execute(out)) };
  };
  return { kv, s, worker, step };
}

/** `{ id: numScheduledTokens }` over both lists of a step, in batch order. */
export function grants(out: SchedulerOutput): Record<string, number> {
  const g: Record<string, number> = {};
  for (const c of out.scheduledCachedRequests) g[c.requestId] = c.numScheduledTokens;
  for (const n of out.scheduledNewRequests) g[n.requestId] = n.numScheduledTokens;
  return g;
}
