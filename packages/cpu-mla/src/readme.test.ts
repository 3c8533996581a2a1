/** The README example, as written. */
import { createBackendRegistry, lseCombine, selectBackend } from '@dcp/backend';
import { registerCpuMla } from '@dcp/cpu-mla';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { expect, it } from 'vitest';

it('README example: two DCP ranks merge to exact attention', async () => {
  const registry = createBackendRegistry();
  registerCpuMla(registry);
  const config = {
    dtype: 'f32',
    kvCacheDtype: 'f32',
    blockSize: 16,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 16,
    dcp: 2,
    interleave: 1,
  } as const;

  // Two simulated DCP ranks, each with its own backend instance and half of a 3-token sequence.
  const comms = createLocalCommunicators(2);
  const merged = await Promise.all(
    comms.map(async (comm, rank) => {
      const { backend: b } = await selectBackend(registry, config);
      const cache = b.alloc([4, 16, 576], 'f32');
      // Tokens 0..2 of one request in block 1; rank 0 owns positions 0 and 2, rank 1 position 1.
      const mine = rank === 0 ? 2 : 1;
      const kvC = b.upload(new Float32Array(mine * 512).fill(rank + 1), [mine, 512], 'f32');
      const kPe = b.upload(new Float32Array(mine * 64).fill(0.1), [mine, 64], 'f32');
      b.writeKv(kvC, kPe, b.upload(Int32Array.from(rank === 0 ? [16, 17] : [16]), [mine], 'i32'), cache);
      // Decode one token with 2 heads (both ranks' heads, as after the query all-gather).
      const q = b.upload(new Float32Array(2 * 576).fill(0.01), [1, 2, 576], 'f32');
      const out = b.alloc([1, 2, 512], 'f32');
      const lse = b.alloc([1, 2], 'f32');
      const meta = {
        blockTable: b.upload(Int32Array.from([1]), [1, 1], 'i32'),
        seqLens: b.upload(Int32Array.from([mine]), [1], 'i32'),
      };
      b.mlaDecode(q, cache, meta, 1 / Math.sqrt(576), out, lse);
      const r = await lseCombine(b, comm, out, lse); // this rank's head, exact over all 3 tokens
      return (await b.download(r.out))[0];
    }),
  );
  console.log(merged);
  // Scores: q·k = 0.01·(512·v + 64·0.1) per token, v ∈ {1, 2, 1}; independent float64 check.
  const s = [1, 2, 1].map((v) => (0.01 * (512 * v + 6.4)) / Math.sqrt(576));
  const e = s.map((x) => Math.exp(x - Math.max(...s)));
  const want = (e[0]! * 1 + e[1]! * 2 + e[2]! * 1) / (e[0]! + e[1]! + e[2]!);
  for (const m of merged) expect(Math.abs(m! - want)).toBeLessThan(1e-5);
});
