/**
 * A 200 MiB paged latent cache on an adapter whose storage bindings stop at 128 MiB (lavapipe,
 * SwiftShader): the cache is split into buffers of whole blocks, and writeKv, mlaDecode and
 * gatherCache reach keys in blocks at both sides of the split (checked against float64 and bit
 * for bit; `cache-check.ts`). On an adapter with larger bindings the cache is one buffer and
 * the same checks run.
 */
import { describe, expect, it } from 'vitest';
import { buffersOf, checkCache } from './cache-check.js';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const probe = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(probe);
await probe.close();

const MIB = 2 ** 20;
const cases = [
  { name: 'bf16, width 576', dtype: 'bf16', L: 512, R: 64 },
  { name: 'f16 (native where shader-f16), width 576', dtype: 'f16', L: 512, R: 64 },
  { name: 'f32, width 576', dtype: 'f32', L: 512, R: 64 },
  { name: 'bf16, width 15 (atomic half-word writes)', dtype: 'bf16', L: 11, R: 4 },
] as const;

describe.skipIf(!adapter)('a 200 MiB cache', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const d = platformDescriptor({ allowSoftware: true });
      try {
        const b = await d.create({ config: undefined as never });
        const B = 16;
        const blockBytes = B * (c.L + c.R) * (c.dtype === 'f32' ? 4 : 2);
        const numBlocks = Math.ceil((200 * MIB) / blockBytes);
        const perBuffer = Math.floor(adapter!.limits.maxStorageBufferBindingSize / blockBytes);
        const edge = Math.min(perBuffer, numBlocks - 2);
        const cache = await checkCache(b, {
          dtype: c.dtype,
          numBlocks,
          blockSize: B,
          L: c.L,
          R: c.R,
          // The last block of the first buffer, the first of the second, the very last, block 0.
          tables: [
            [edge - 1, edge, numBlocks - 1, 0],
            [edge + 1, edge - 2],
          ],
          lens: [3 * B + 7, B + 3],
          seed: 11,
        });
        expect(buffersOf(cache)).toBe(Math.ceil(numBlocks / perBuffer));
        if (adapter!.limits.maxStorageBufferBindingSize <= 128 * MIB) expect(buffersOf(cache)).toBe(2);
        b.destroy();
      } finally {
        await d.close();
      }
    }, 300_000);
  }
});
