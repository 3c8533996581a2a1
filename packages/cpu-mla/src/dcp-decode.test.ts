/**
 * Sharded decode equals dense attention over the whole sequence (to 1e-5, fp32) for every DCP
 * size and interleave, with lengths 0, 1 and smaller than the DCP size; ag_rs and a2a agree.
 */
import { createCaseContext, dcpDecodeScenario } from '@dcp/backend/testing';
import { describe, expect, it } from 'vitest';
import { cpuMlaDescriptor } from './backend.js';

const BLOCK = 8;

describe.each([1, 2, 3, 4, 8])('decode with dcp=%i', (dcp) => {
  it.each([1, 4, BLOCK])(
    'interleave %i: both merges match dense attention and each other',
    async (interleave) => {
      const name = `decode dcp=${dcp} I=${interleave}`;
      const lens = [0, 1, Math.max(0, dcp - 1), dcp + 1, 3 * BLOCK * dcp + 5, 37];
      const run = async (mode: 'ag_rs' | 'a2a') => {
        // Same seed for both modes: same cache, queries and lengths.
        const ctx = createCaseContext({ descriptor: cpuMlaDescriptor, seed: 7 }, name);
        try {
          return await dcpDecodeScenario(ctx, {
            dcp,
            interleave,
            mode,
            blockSize: BLOCK,
            lens,
            tol: 1e-5,
            headsPerRank: 3,
          });
        } finally {
          ctx.dispose();
        }
      };
      const agrs = await run('ag_rs');
      const a2a = await run('a2a');
      expect(agrs.length).toBe(dcp);
      for (let r = 0; r < dcp; r++) {
        const a = agrs[r]!;
        const b = a2a[r]!;
        expect(a.length).toBe(b.length);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        expect(worst).toBeLessThan(1e-5);
      }
    },
  );
});

it('decode at DeepSeek-V2 widths (512 + 64), dcp=2', async () => {
  const ctx = createCaseContext({ descriptor: cpuMlaDescriptor }, 'deepseek widths');
  await dcpDecodeScenario(ctx, {
    dcp: 2,
    interleave: 1,
    mode: 'ag_rs',
    blockSize: 16,
    lens: [0, 1, 50, 97],
    kvLoraRank: 512,
    ropeDim: 64,
    headsPerRank: 2,
    tol: 1e-5,
  });
  ctx.dispose();
});
