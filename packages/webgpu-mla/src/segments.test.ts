/**
 * Tensors split over several storage buffers: the split plan (pure), the cache ops on caches
 * forced into many small buffers (every dtype, odd widths, keys in blocks of different buffers),
 * the refusals that name the device limit, and the option checks. The 200 MiB cache against the
 * real 128 MiB binding limit is in `big-cache.test.ts`.
 */
import type { DType } from '@dcp/backend';
import { createRng } from '@dcp/backend/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebgpuMlaBackend } from './backend.js';
import { buffersOf, checkCache } from './cache-check.js';
import { platformDescriptor } from './node.js';
import { planSegments } from './segments.js';
import { adapterOrSkip } from './test-adapter.js';

/** The largest whole-word number of rows within `limit`, found by trying every row count. */
function bruteSegWords(rows: number, rowBytes: number, limit: number): number {
  let best = 0;
  for (let r = 1; r <= rows && r * rowBytes <= limit; r++) if ((r * rowBytes) % 4 === 0) best = r;
  return (best * rowBytes) / 4;
}

describe('planSegments', () => {
  it('fits a tensor within the limit in one buffer', () => {
    expect(planSegments([10, 16, 576], 'bf16', 10 * 16 * 576 * 2, 'x')).toEqual({
      words: (10 * 16 * 576) / 2,
      segWords: (10 * 16 * 576) / 2,
      segments: 1,
    });
  });

  it('splits into the most whole rows per buffer that end on a word, on random shapes', () => {
    const rng = createRng(3);
    const bytes: Record<string, number> = { f32: 4, i32: 4, bf16: 2, f16: 2 };
    for (let k = 0; k < 300; k++) {
      const dtype = (['f32', 'bf16', 'f16', 'i32'] as DType[])[rng.int(0, 3)]!;
      const shape = [rng.int(2, 60), rng.int(1, 5), rng.int(1, 9)];
      const rowBytes = shape[1]! * shape[2]! * bytes[dtype]!;
      const total = shape[0]! * rowBytes;
      const limit = rng.int(rowBytes * 2, Math.max(rowBytes * 2, total - 1));
      const words = Math.ceil(total / 4);
      const segWords = bruteSegWords(shape[0]!, rowBytes, limit);
      const plan = planSegments(shape, dtype, limit, 'x');
      if (words * 4 <= limit) {
        expect(plan.segments).toBe(1);
        continue;
      }
      expect(plan, `${dtype} [${shape}] limit ${limit}`).toEqual({
        words,
        segWords,
        segments: Math.ceil(words / segWords),
      });
    }
  });

  it('refuses a row larger than one buffer, naming the field', () => {
    expect(() => planSegments([4, 1000], 'f32', 3000, 'alloc')).toThrow(
      /alloc: one row .* more than one storage binding of 3000 bytes/,
    );
    // Odd 16-bit rows pair up to end on a word: two 6-byte rows need 12 bytes.
    expect(() => planSegments([8, 3], 'bf16', 10, 'alloc')).toThrow(/2 rows to a whole word/);
    expect(planSegments([8, 3], 'bf16', 12, 'alloc')).toEqual({ words: 12, segWords: 3, segments: 4 });
  });
});

const base = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(base);

describe.skipIf(!adapter)('caches over many buffers', () => {
  afterAll(() => base.close());
  /** Runs `body` on a backend of its own device with these layout options (closed after). */
  const withBackend = async (
    segmentBytes: number,
    f16Storage: 'auto' | 'packed',
    body: (b: WebgpuMlaBackend) => Promise<void>,
  ) => {
    const d = platformDescriptor({ allowSoftware: true, maxSegmentBytes: segmentBytes, f16Storage });
    try {
      const b = await d.create({ config: undefined as never });
      await body(b);
      b.destroy();
    } finally {
      await d.close();
    }
  };

  const cases = [
    { name: 'bf16, width 15 (rows share words: atomic half-word writes)', dtype: 'bf16', L: 11, R: 4 },
    { name: 'f16 native, width 15', dtype: 'f16', L: 11, R: 4 },
    { name: 'f16 packed, width 15', dtype: 'f16', L: 11, R: 4, packed: true },
    { name: 'bf16, width 576 (whole-word rows)', dtype: 'bf16', L: 512, R: 64 },
    { name: 'f16 packed, width 576', dtype: 'f16', L: 512, R: 64, packed: true },
    { name: 'f32, width 15', dtype: 'f32', L: 11, R: 4 },
    { name: 'f32, width 576', dtype: 'f32', L: 512, R: 64 },
  ] as const;
  for (const c of cases) {
    it(c.name, async () => {
      const B = 16;
      const blockBytes = B * (c.L + c.R) * (c.dtype === 'f32' ? 4 : 2);
      const numBlocks = 17;
      // Three blocks per buffer (plus a little: segments still end on a block).
      await withBackend(3 * blockBytes + 12, 'packed' in c ? 'packed' : 'auto', async (b) => {
        expect(b.layout.nativeF16).toBe(!('packed' in c) && adapter!.features.shaderF16);
        // Request 0 crosses buffers at each block; request 1 uses the last (shorter) buffer's block.
        const cache = await checkCache(b, {
          dtype: c.dtype,
          numBlocks,
          blockSize: B,
          L: c.L,
          R: c.R,
          tables: [
            [2, 3, 9, 5, 15],
            [16, 1, 8],
          ],
          lens: [4 * B + 5, 2 * B + 9],
          seed: c.name.length,
        });
        expect(buffersOf(cache)).toBe(Math.ceil(numBlocks / 3));
      });
    }, 300_000);
  }

  it('refuses a cache whose buffers would not fit next to a kernel’s other bindings, naming the limit', async () => {
    await withBackend(1024, 'auto', async (b) => {
      const max = b.layout.maxBindings;
      // One row (256 f32) per buffer: (max − 5) buffers leave 5 bindings, the decode kernel needs 6.
      expect(() => b.alloc([max - 5, 256], 'f32')).toThrow(/maxStorageBuffersPerShaderStage \(\d+\)/);
      expect(buffersOf(b.alloc([max - 6, 256], 'f32'))).toBe(max - 6);
      // Three tensors of (max / 3 + 1) buffers each in one kernel: refused when encoded.
      const k = Math.floor(max / 3) + 1;
      const [x, y, z] = [0, 1, 2].map(() => b.alloc([k, 256], 'f32')) as [never, never, never];
      expect(() => b.add(x, y, z)).toThrow(/binds \d+ storage buffers .*maxStorageBuffersPerShaderStage/);
    });
  });

  it('checks the layout options, naming them', async () => {
    const none = async () => {};
    await expect(withBackend(0, 'auto', none)).rejects.toThrow(
      /maxSegmentBytes: must be an integer of at least 4 bytes, got 0/,
    );
    await expect(withBackend(4.5, 'auto', none)).rejects.toThrow(/maxSegmentBytes/);
    await expect(withBackend(4096, 'bogus' as never, none)).rejects.toThrow(
      /f16Storage: must be 'auto' or 'packed'/,
    );
    await withBackend(2 ** 40, 'auto', async (b) => {
      expect(b.layout.segmentBytes).toBe(adapter!.limits.maxStorageBufferBindingSize);
    });
    const kernel = async (decodeKernel: unknown) => {
      const d = platformDescriptor({ allowSoftware: true, decodeKernel: decodeKernel as 'auto' });
      try {
        const b = await d.create({ config: undefined as never });
        const k = b.decodeOptions().kernel;
        expect(() => b.setDecodeOptions({ flashKeys: 3 })).toThrow(
          /decode option flashKeys: must be 0 or a power of two, got 3/,
        );
        expect(() => b.setDecodeOptions({ flashHeads: 16 as 8 })).toThrow(
          /flashHeads: must be 0, 1, 2, 4 or 8, got 16/,
        );
        expect(() => b.setDecodeOptions({ flashSubgroups: 0 })).toThrow(/flashSubgroups/);
        expect(() => b.setDecodeOptions({ targetGroups: -1 })).toThrow(/targetGroups/);
        expect(() => b.setDecodeOptions({ flashPrefetch: 1 as unknown as boolean })).toThrow(
          /flashPrefetch: must be a boolean, got 1/,
        );
        expect(b.decodeOptions()).toEqual({
          kernel: k,
          flashHeads: 0,
          flashKeys: 0,
          flashSubgroups: 2,
          flashPrefetch: false,
          targetGroups: 0,
        });
        b.destroy();
        return k;
      } finally {
        await d.close();
      }
    };
    expect(await kernel(undefined)).toBe('auto');
    expect(await kernel('tiled')).toBe('tiled');
    await expect(kernel('fast')).rejects.toThrow(
      /decode option kernel: must be 'auto', 'flash', 'tiled' or 'compact', got fast/,
    );
  });
});
