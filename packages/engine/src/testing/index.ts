/**
 * Test helpers for code built on the engine (the server's tests, users' integration tests): a
 * fake rank whose next token is a deterministic function of the token history, a one-call
 * engine around it, and a greedy run with its top-2 logprob gaps.
 */
import { createKVCacheManager } from '@dcp/kv-cache';
import { Scheduler } from '@dcp/scheduler';
import { AsyncLLM } from '../async-llm.js';
import { InProcessExecutor } from '../executor/in-process-executor.js';
import { LLMEngine } from '../llm-engine.js';
import type { TokenDecoder } from '../text/detokenizer.js';
import { FakeRunner } from './fake-runner.js';

export { FakeRunner } from './fake-runner.js';
export { type GreedyRun, greedyWithGaps } from './greedy.js';

/** Options of `createFakeEngine`. */
export interface FakeEngineOptions {
  vocab: number;
  next: (history: readonly number[]) => number;
  tokenizer?: TokenDecoder | null;
  numBlocks?: number;
  blockSize?: number;
  maxModelLen?: number;
  eosTokenId?: number | null;
  maxNumSeqs?: number;
}

/** An `AsyncLLM` over a `FakeRunner`, with a real scheduler and KV-cache manager. */
export function createFakeEngine(o: FakeEngineOptions): {
  llm: AsyncLLM;
  runner: FakeRunner;
  engine: LLMEngine;
} {
  const blockSize = o.blockSize ?? 16;
  const numBlocks = o.numBlocks ?? 512;
  const kv = createKVCacheManager({ numBlocks, blockSize, dcp: 1 });
  const maxNumSeqs = o.maxNumSeqs ?? 64;
  const scheduler = new Scheduler({
    kvCacheManager: kv,
    maxNumBatchedTokens: Math.max(256, maxNumSeqs),
    maxNumSeqs,
    maxModelLen: o.maxModelLen ?? 1024,
    eosTokenId: o.eosTokenId ?? null,
  });
  const runner = new FakeRunner(o.vocab, o.next);
  const engine = new LLMEngine({
    scheduler,
    executor: new InProcessExecutor(runner),
    tokenizer: o.tokenizer ?? null,
    layout: { dcp: 1, interleave: 1, slotsPerRank: (numBlocks - 1) * blockSize },
  });
  return { llm: new AsyncLLM(engine), runner, engine };
}
