// The engine settings both sides of the web-engine tests use (page and Node), so their runs are
// the same computation: fp32 weights and KV, 4-token blocks, a small budget.
import { defaultEngineConfig, type EngineConfig } from '@dcp/config';

export function testConfig(o: { model: string; tp: number; dcp: number; backend: string }): EngineConfig {
  const c = defaultEngineConfig();
  c.model = o.model;
  c.parallel.tp = o.tp;
  c.parallel.dcp = o.dcp;
  c.attentionBackend = o.backend;
  c.load.dtype = 'float32';
  c.cache.kvCacheDtype = 'fp32';
  c.cache.blockSize = 4;
  c.cache.numGpuBlocksOverride = 48;
  c.scheduler.maxNumBatchedTokens = 32;
  c.scheduler.maxNumSeqs = 4;
  return c;
}

/** A Brown-corpus-like prompt of a few dozen tokens. */
export const PROMPT =
  'The jury further said in term-end presentments that the City Executive Committee, which had over-all charge of the election,';
