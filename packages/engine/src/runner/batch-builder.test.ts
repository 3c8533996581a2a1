import { createKVCacheManager } from '@dcp/kv-cache';
import { localSeqLen, localToGlobal } from '@dcp/parallel-state';
import { Scheduler } from '@dcp/scheduler';
import { describe, expect, it } from 'vitest';
import { BatchBuilder } from './batch-builder.js';

/**
 * Drives a real scheduler and one BatchBuilder per DCP rank; each rank "writes" token ids into its
 * own slot array. Afterwards every request's tokens must be readable back from the ranks' caches
 * through the independent local→global map, with every token stored exactly once.
 */
describe('BatchBuilder', () => {
  for (const [dcp, interleave, blockSize] of [
    [1, 1, 4],
    [2, 1, 4],
    [4, 2, 4],
    [3, 4, 8],
  ] as const) {
    it(`places every token on exactly its owner (dcp ${dcp}, interleave ${interleave}, block ${blockSize})`, () => {
      const numBlocks = 64;
      const kv = createKVCacheManager({ numBlocks, blockSize, dcp, enablePrefixCaching: false });
      const sched = new Scheduler({
        kvCacheManager: kv,
        maxNumBatchedTokens: 16,
        maxNumSeqs: 4,
        maxModelLen: 200,
      });
      const builders = Array.from(
        { length: dcp },
        (_, r) => new BatchBuilder({ blockSize, dcp, dcpRank: r, interleave }),
      );
      const caches = builders.map(() => new Int32Array(numBlocks * blockSize).fill(-1));
      const prompts: Record<string, number[]> = {};
      for (let i = 0; i < 5; i++) {
        const p = Array.from({ length: 3 + i * 7 }, (_, k) => 1000 * i + k);
        prompts[`r${i}`] = p;
        sched.addRequest({
          requestId: `r${i}`,
          promptTokenIds: p,
          sampling: { maxTokens: 6, ignoreEos: true },
        });
      }
      const tables: Record<string, number[]> = {};
      const finalTokens: Record<string, number[]> = {};
      let guard = 0;
      while (sched.hasPendingWork() && guard++ < 500) {
        const s = sched.schedule();
        const batches = builders.map((b) => b.build(s));
        for (let r = 0; r < dcp; r++) {
          const b = batches[r]!;
          for (let row = 0; row < b.tokenIds.length; row++) {
            const slot = b.slotMapping[row]!;
            if (slot >= 0) caches[r]![slot] = b.tokenIds[row]!;
          }
        }
        // Exactly one rank stores each row.
        for (let row = 0; row < s.totalNumScheduledTokens; row++) {
          expect(batches.filter((b) => b.slotMapping[row]! >= 0)).toHaveLength(1);
        }
        for (const [i, rq] of batches[0]!.requests.entries())
          tables[rq.requestId] = Array.from(batches[0]!.blockTables[i]!);
        const sampled: Record<string, number[]> = {};
        for (const rq of batches[0]!.requests)
          if (rq.computedLen + rq.queryLen >= rq.numTokens) sampled[rq.requestId] = [7000 + rq.numTokens];
        for (const o of sched.updateFromOutput(s, sampled)) {
          const req = sched.getRequest(o.requestId);
          if (req) finalTokens[o.requestId] = [...req.allTokenIds];
        }
      }
      for (const [id, prompt] of Object.entries(prompts)) {
        const table = tables[id]!;
        // Tokens whose KV was written: everything but the last sampled token.
        const all = [...prompt, ...Array.from({ length: 6 }, (_, k) => 7000 + prompt.length + k)].slice(
          0,
          -1,
        );
        const seen = new Array(all.length).fill(0);
        for (let r = 0; r < dcp; r++) {
          const shard = { dcp, dcpRank: r, interleave };
          for (let j = 0; j < localSeqLen(all.length, shard); j++) {
            const g = localToGlobal(j, shard);
            const block = table[Math.floor(j / blockSize)]!;
            expect(caches[r]![block * blockSize + (j % blockSize)]).toBe(all[g]);
            seen[g]++;
          }
        }
        expect(seen.every((x) => x === 1)).toBe(true);
      }
      expect(Object.keys(finalTokens).length).toBeGreaterThan(0);
    });
  }
});
