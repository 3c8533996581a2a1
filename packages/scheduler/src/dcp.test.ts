import { describe, expect, it } from 'vitest';
import { ids } from './test-helpers.js';
import { setup } from './test-setup.js';

/** Sixteen 24-token prompts against 16 usable blocks of 4 tokens per rank. */
function runWorkload(dcp: number) {
  const t = setup({
    dcp,
    blockSize: 4,
    numBlocks: 17,
    maxModelLen: 64,
    maxNumBatchedTokens: 1024,
    maxNumSeqs: 64,
    enablePrefixCaching: false,
  });
  for (let k = 0; k < 16; k++) {
    t.s.addRequest({
      requestId: `r${k}`,
      promptTokenIds: ids(24, 100 * k),
      sampling: { maxTokens: 8, ignoreEos: true },
    });
  }
  const outputs = new Map<string, number[]>();
  for (let k = 0; k < 16; k++) outputs.set(`r${k}`, []);
  const first = t.step();
  for (const r of first.res) outputs.get(r.requestId)!.push(...r.newTokenIds);
  let peakRunning = first.out.scheduledNewRequests.length;
  while (t.s.hasPendingWork()) {
    const { res } = t.step();
    peakRunning = Math.max(peakRunning, t.s.getStats().numRunning);
    for (const r of res) outputs.get(r.requestId)!.push(...r.newTokenIds);
  }
  return { t, first: first.out, outputs, peakRunning };
}

describe('DCP virtual blocks', () => {
  it('with dcp 4 the same blocks hold 4× the tokens, and the outputs do not change', () => {
    const one = runWorkload(1);
    const four = runWorkload(4);
    expect(four.t.kv.tokenCapacity).toBe(4 * one.t.kv.tokenCapacity);
    // dcp 1: 6 blocks per prompt, so 2 fit in 16 blocks; dcp 4: 2 blocks of 16 tokens, so 8 fit.
    expect(one.first.scheduledNewRequests).toHaveLength(2);
    expect(four.first.scheduledNewRequests).toHaveLength(8);
    expect(four.first.totalNumScheduledTokens).toBe(4 * one.first.totalNumScheduledTokens);
    for (const n of four.first.scheduledNewRequests) expect(n.blockIds).toHaveLength(2);
    for (const n of one.first.scheduledNewRequests) expect(n.blockIds).toHaveLength(6);
    expect(four.peakRunning).toBeGreaterThanOrEqual(4 * 2);
    expect(one.peakRunning).toBeLessThanOrEqual(2);
    expect(four.outputs).toEqual(one.outputs);
    expect([...four.outputs.values()].every((o) => o.length === 8)).toBe(true);
    expect(four.t.kv.numFreeBlocks).toBe(16);
  });
});
