import type { CudaMlaOps } from '../ops.js';
import type { CudaTensor } from '../tensor.js';
import { type CheckResult, DV, LATENT, LSE_TOL, lseErr, randBf16, TOL } from './check-util.js';
import { bf16ToF64, refAttention, relError, rng } from './reference.js';

/**
 * DCP end to end on one GPU: W simulated ranks each hold every W-th token of the sequences
 * (interleave 1), decode their local shard, then merge with lseCorrect (ag_rs, summing the
 * corrected partials as the reduce-scatter would) and with lsePack + lseCombineA2a; both must
 * equal the float64 attention over the whole sequence.
 */
export async function dcpCase(ops: CudaMlaOps, seed: number, w: number): Promise<CheckResult> {
  const r = rng(seed);
  const [heads, bs] = [16, 64];
  const lens = [1, 700, 2 * w - 1, 0];
  const n = lens.length;
  const hl = heads / w;
  const qHost = randBf16(n * heads * LATENT, r);
  const kv = lens.map((l) => randBf16(l * LATENT, r)); // global token rows of each request
  const scale = 1 / Math.sqrt(192);
  const q = ops.upload(qHost, [n, heads, LATENT], 'bf16');
  const outs: CudaTensor[] = [];
  const lseHost: Float32Array[] = [];
  const rawHost: Uint16Array[] = [];
  for (let rank = 0; rank < w; rank++) {
    const local = lens.map((l) => Math.max(0, Math.ceil((l - rank) / w)));
    const maxBlocks = Math.max(1, ...local.map((l) => Math.ceil(l / bs)));
    const cacheHost = new Uint16Array(n * maxBlocks * bs * LATENT);
    const table = new Int32Array(n * maxBlocks);
    for (let t = 0; t < n; t++) {
      for (let b = 0; b < maxBlocks; b++) table[t * maxBlocks + b] = (n - 1 - t) * maxBlocks + b;
      for (let j = 0; j < local[t]!; j++) {
        const g = j * w + rank; // global position of local entry j
        const slot = table[t * maxBlocks + Math.floor(j / bs)]! * bs + (j % bs);
        cacheHost.set(kv[t]!.subarray(g * LATENT, (g + 1) * LATENT), slot * LATENT);
      }
    }
    const cache = ops.upload(cacheHost, [n * maxBlocks, bs, LATENT], 'bf16');
    const bt = ops.upload(table, [n, maxBlocks], 'i32');
    const sl = ops.upload(Int32Array.from(local), [n], 'i32');
    const out = ops.alloc([n, heads, DV], 'bf16');
    const lse = ops.alloc([n, heads], 'f32');
    ops.mlaDecode(q, cache, { blockTable: bt, seqLens: sl }, scale, out, lse);
    lseHost.push((await ops.download(lse)) as Float32Array);
    rawHost.push((await ops.download(out)) as Uint16Array);
    outs.push(out);
    for (const t of [cache, bt, sl, lse]) ops.dispose(t);
  }
  // ag_rs: all-gather LSE, correct in place on each rank, sum (the reduce-scatter).
  const all = new Float32Array(w * n * heads);
  for (const [i, l] of lseHost.entries()) all.set(l, i * n * heads);
  const lses = ops.upload(all, [w, n, heads], 'f32');
  const sum = new Float64Array(n * heads * DV);
  for (let rank = 0; rank < w; rank++) {
    ops.lseCorrect(outs[rank]!, lses, rank, 'e', null);
    const o = bf16ToF64((await ops.download(outs[rank]!)) as Uint16Array);
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + o[i]!;
  }
  ops.dispose(lses);
  const qF = bf16ToF64(qHost);
  const ref = new Float64Array(n * heads * DV);
  const refL = new Float64Array(n * heads);
  for (let t = 0; t < n; t++) {
    const keys = bf16ToF64(kv[t]!);
    const res = refAttention(
      qF,
      t * heads * LATENT,
      heads,
      LATENT,
      DV,
      lens[t]!,
      (j) => ({ data: keys, off: j * LATENT }),
      scale,
    );
    ref.set(res.out, t * heads * DV);
    refL.set(res.lse, t * heads);
  }
  const errAgRs = relError(sum, ref);
  // a2a for rank `me`: after the exchange it holds its head chunk of every rank's raw partial.
  const me = w - 1;
  const packedHost = new Uint16Array(n * w * hl * (DV + 2));
  const bits = new Uint32Array(new Float32Array(all).buffer);
  for (let t = 0; t < n; t++)
    for (let rank = 0; rank < w; rank++)
      for (let h = 0; h < hl; h++) {
        const hh = me * hl + h;
        const dst = ((t * w + rank) * hl + h) * (DV + 2);
        const src = (rank * n + t) * heads + hh;
        packedHost.set(rawHost[rank]!.subarray((t * heads + hh) * DV, (t * heads + hh + 1) * DV), dst);
        packedHost[dst + DV] = bits[src]! >>> 16;
        packedHost[dst + DV + 1] = bits[src]! & 0xffff;
      }
  const packed = ops.upload(packedHost, [n, w, hl, DV + 2], 'bf16');
  const mine = ops.alloc([n, hl, DV], 'bf16');
  const mineL = ops.alloc([n, hl], 'f32');
  ops.lseCombineA2a(packed, 'e', mine, mineL);
  const got = bf16ToF64((await ops.download(mine)) as Uint16Array);
  const gotL = (await ops.download(mineL)) as Float32Array;
  for (const t of [packed, mine, mineL, q, ...outs]) ops.dispose(t);
  const refMine = new Float64Array(n * hl * DV);
  const refMineL = new Float64Array(n * hl);
  for (let t = 0; t < n; t++)
    for (let h = 0; h < hl; h++) {
      const hh = me * hl + h;
      refMine.set(ref.subarray((t * heads + hh) * DV, (t * heads + hh + 1) * DV), (t * hl + h) * DV);
      refMineL[t * hl + h] = refL[t * heads + hh]!;
    }
  const errA2a = relError(got, refMine);
  const le = lseErr(gotL, refMineL);
  return {
    name: `DCP W=${w}: local decode + ag_rs and a2a merges = full attention`,
    ok: errAgRs <= TOL && errA2a <= TOL && le <= LSE_TOL,
    err: Math.max(errAgRs, errA2a),
    detail: `ag_rs err ${errAgRs.toExponential(2)}, a2a err ${errA2a.toExponential(2)}, lse err ${le.toExponential(2)}`,
  };
}
