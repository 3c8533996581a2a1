/** The README example, as written (against the built package). */
import { createBackendRegistry, lseCombine, NoBackendError, selectBackend } from '@dcp/backend';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { registerWebgpuMla, type WebgpuMlaBackend } from '@dcp/webgpu-mla';
import { expect, it } from 'vitest';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const probe = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(probe);
await probe.close();

it.skipIf(!adapter)('README example: two DCP ranks on one adapter merge to exact attention', async () => {
  // --- README example start
  const registry = createBackendRegistry();
  // allowSoftware: also serve on a CPU implementation (lavapipe, SwiftShader); off by default.
  registerWebgpuMla(registry, { allowSoftware: true });
  const config = {
    dtype: 'f32',
    kvCacheDtype: 'bf16',
    blockSize: 16,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 2,
    dcp: 2,
    interleave: 1,
  } as const;

  // Two DCP ranks (one backend instance each, sharing the adapter) and half a sequence each.
  const comms = createLocalCommunicators(2);
  const merged = await Promise.all(
    comms.map(async (host, rank) => {
      const { backend } = await selectBackend(registry, config, { name: 'webgpu-mla' });
      const b = backend as WebgpuMlaBackend;
      const comm = b.wrapCommunicator(host); // collectives over GPU tensors (via the host)
      const cache = b.alloc([4, 16, 576], 'bf16');
      // Tokens 0..2 of one request in block 1: rank 0 owns positions 0 and 2, rank 1 position 1.
      const mine = rank === 0 ? 2 : 1;
      const kvC = b.upload(new Float32Array(mine * 512).fill(rank + 1), [mine, 512], 'f32');
      const kPe = b.upload(new Float32Array(mine * 64).fill(0.5), [mine, 64], 'f32');
      b.writeKv(kvC, kPe, b.upload(Int32Array.from(rank === 0 ? [16, 17] : [16]), [mine], 'i32'), cache);
      const q = b.upload(new Float32Array(2 * 576).fill(0.25), [1, 2, 576], 'f32');
      const out = b.alloc([1, 2, 512], 'f32');
      const lse = b.alloc([1, 2], 'f32');
      const meta = {
        blockTable: b.upload(Int32Array.from([1]), [1, 1], 'i32'),
        seqLens: b.upload(Int32Array.from([mine]), [1], 'i32'),
      };
      b.mlaDecode(q, cache, meta, 1 / Math.sqrt(576), out, lse);
      // Exact merge: rank r keeps head r of the attention over all three tokens.
      const res = await lseCombine(b, comm, out, lse, { returnLse: true });
      const values = (await b.download(res.out)) as Float32Array;
      b.destroy();
      return values;
    }),
  );
  // --- README example end
  // Scores: rows of rank 0 hold 1s (×2 tokens), rank 1's 2s, so softmax weights are e^s / Σ.
  const s1 = (0.25 * 512 * 1 + 0.25 * 64 * 0.5) / Math.sqrt(576);
  const s2 = (0.25 * 512 * 2 + 0.25 * 64 * 0.5) / Math.sqrt(576);
  const want = (2 * Math.exp(s1) * 1 + Math.exp(s2) * 2) / (2 * Math.exp(s1) + Math.exp(s2));
  for (const m of merged) {
    expect(m.length).toBe(512);
    for (const v of m) expect(Math.abs(v - want)).toBeLessThan(1e-4 * want);
  }
});

it('without an adapter, selection says why', async () => {
  const registry = createBackendRegistry();
  registerWebgpuMla(registry, { requestGpu: () => undefined, noAdapterHint: 'none here' });
  const config = {
    dtype: 'f32',
    kvCacheDtype: 'f32',
    blockSize: 16,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 2,
    dcp: 1,
    interleave: 1,
  } as const;
  const err = await selectBackend(registry, config).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NoBackendError);
  expect((err as NoBackendError).reasons['webgpu-mla']?.[0]).toMatch(
    /initialization failed: WebGPU is not available here \(none here\)/,
  );
});

it.skipIf(!adapter?.software)('a software adapter is refused unless allowed', async () => {
  const registry = createBackendRegistry();
  registerWebgpuMla(registry);
  const config = {
    dtype: 'f32',
    kvCacheDtype: 'f32',
    blockSize: 16,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 2,
    dcp: 1,
    interleave: 1,
  } as const;
  const err = (await selectBackend(registry, config).catch((e: unknown) => e)) as NoBackendError;
  expect(err.reasons['webgpu-mla']?.[0]).toMatch(/only a software adapter .* is available/);
});
