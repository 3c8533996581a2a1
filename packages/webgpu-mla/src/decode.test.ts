/**
 * Decode shapes the suite's small cases do not reach: DeepSeek's 576-wide latent with 16 heads
 * (several key tiles and KV splits per token, 8 or 16 heads per workgroup), odd latent widths
 * (the element-wise loader and the odd tail), and a bf16 cache, each merged over DCP ranks and
 * compared with dense float64 attention by the suite's scenario.
 */
import type { FloatDType } from '@dcp/backend';
import { createCaseContext, dcpDecodeScenario } from '@dcp/backend/testing';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, describe, it } from 'vitest';
import { wrapHostCommunicator } from './comm.js';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const base = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(base);
const communicators = (n: number) => createLocalCommunicators(n).map(wrapHostCommunicator);

/** The descriptor with its cache dtype forced (the scenario takes f32 whenever it is offered). */
function withKv(kv: FloatDType) {
  return {
    ...base,
    create: async (o: Parameters<typeof base.create>[0]) => {
      const b = await base.create(o);
      return { ...b, capabilities: { ...b.capabilities, kvCacheDtypes: [kv] } };
    },
  };
}

const cases = [
  {
    name: 'latent 512+64, 8 heads per rank, W=2, bf16 cache',
    kv: 'bf16',
    L: 512,
    R: 64,
    hl: 8,
    w: 2,
    lens: [0, 1, 300, 97],
  },
  { name: 'latent 512+64, 16 heads, W=1, f32 cache', kv: 'f32', L: 512, R: 64, hl: 16, w: 1, lens: [200, 5] },
  {
    name: 'odd latent 11+4, 3 heads per rank, W=2, f16 cache',
    kv: 'f16',
    L: 11,
    R: 4,
    hl: 3,
    w: 2,
    lens: [70, 0, 33],
  },
  {
    name: 'odd latent 11+4, 5 heads, W=3, bf16 cache, a2a',
    kv: 'bf16',
    L: 11,
    R: 4,
    hl: 5,
    w: 3,
    lens: [150, 2],
  },
] as const;

describe.skipIf(!adapter)('webgpu-mla decode beyond the suite', () => {
  afterAll(() => base.close());
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = createCaseContext({ descriptor: withKv(c.kv), communicators }, c.name);
      try {
        await dcpDecodeScenario(ctx, {
          dcp: c.w,
          interleave: 1,
          mode: c.name.endsWith('a2a') ? 'a2a' : 'ag_rs',
          blockSize: 16,
          lens: [...c.lens],
          kvLoraRank: c.L,
          ropeDim: c.R,
          headsPerRank: c.hl,
        });
      } finally {
        ctx.dispose();
      }
    }, 300_000);
  }
});
