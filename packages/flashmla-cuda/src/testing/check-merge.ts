/** GPU checks of the DCP merge kernels against float64. */
import type { CudaMlaOps } from '../ops.js';
import { type CheckResult, LSE_TOL, lseErr, poison, randBf16, TOL } from './check-util.js';
import { bf16ToF64, refCorrectionFactor, refGlobalLse, relError, rng } from './reference.js';

/** Random LSEs [w, rows] with all-empty, NaN, +inf and -inf entries at fixed rows. */
function specialLses(w: number, rows: number, r: () => number): Float32Array {
  const l = Float32Array.from({ length: w * rows }, () => -5 + 10 * r());
  const at = (n: number, row: number) => n * rows + row;
  for (let n = 0; n < w; n++) l[at(n, 0)] = Number.NEGATIVE_INFINITY; // every shard empty
  l[at(2, 1)] = Number.NaN;
  l[at(1, 2)] = Number.POSITIVE_INFINITY;
  l[at(0, 3)] = Number.NEGATIVE_INFINITY;
  l[at(2, 4)] = Number.NEGATIVE_INFINITY;
  return l;
}

/** ag_rs correction with empty/NaN/+inf shards vs float64. */
export async function lseCorrectCase(ops: CudaMlaOps, seed: number, base2: boolean): Promise<CheckResult> {
  const r = rng(seed);
  const [w, b, h, d, rank] = [4, 3, 8, 512, 2];
  const rows = b * h;
  const lses = specialLses(w, rows, r);
  const outHost = randBf16(rows * d, r);
  outHost.fill(0x7fc0, 4 * d, 5 * d); // NaN partial where this rank's shard is empty (row 4)
  const out = ops.upload(outHost, [b, h, d], 'bf16');
  const l = ops.upload(lses, [w, b, h], 'f32');
  const g = ops.alloc([b, h], 'f32');
  poison(ops, g);
  ops.lseCorrect(out, l, rank, base2 ? '2' : 'e', g);
  const got = bf16ToF64((await ops.download(out)) as Uint16Array);
  const gotG = (await ops.download(g)) as Float32Array;
  for (const t of [out, l, g]) ops.dispose(t);
  const ref = new Float64Array(rows * d);
  const refG = new Float64Array(rows);
  const src = bf16ToF64(outHost);
  for (let i = 0; i < rows; i++) {
    const col = Array.from({ length: w }, (_, n) => lses[n * rows + i]!);
    const f = refCorrectionFactor(col, rank, base2);
    refG[i] = refGlobalLse(col, base2) * (base2 ? Math.LN2 : 1);
    for (let k = 0; k < d; k++) ref[i * d + k] = f === 0 ? 0 : src[i * d + k]! * f;
  }
  const e = relError(got, ref);
  const le = lseErr(gotG, refG);
  return {
    name: `lseCorrect (ag_rs), base ${base2 ? 2 : 'e'}, empty/NaN/+inf shards`,
    ok: e <= TOL && le <= LSE_TOL,
    err: e,
    detail: `global lse err ${le.toExponential(2)}`,
  };
}

/** lsePack bit-exactness and the a2a combine vs float64. */
export async function a2aCase(ops: CudaMlaOps, seed: number, base2: boolean): Promise<CheckResult> {
  const r = rng(seed);
  const [w, b, hl, d] = [4, 2, 4, 512];
  const rows = b * hl;
  const lses = specialLses(w, rows, r); // indexed [n, b·hl]
  const parts = randBf16(w * rows * d, r); // [n, b, hl, d]
  parts.fill(0x7fc0, (0 * rows + 3) * d, (0 * rows + 4) * d); // NaN where shard 0 of row 3 is empty
  // Pack on the host as [b, w, hl, d + 2]: partial, then the f32 LSE's high and low 16 bits.
  const packedHost = new Uint16Array(b * w * hl * (d + 2));
  const bits = new Uint32Array(new Float32Array(lses).buffer);
  for (let bb = 0; bb < b; bb++)
    for (let n = 0; n < w; n++)
      for (let h = 0; h < hl; h++) {
        const row = bb * hl + h;
        const dst = ((bb * w + n) * hl + h) * (d + 2);
        packedHost.set(parts.subarray((n * rows + row) * d, (n * rows + row + 1) * d), dst);
        packedHost[dst + d] = bits[n * rows + row]! >>> 16;
        packedHost[dst + d + 1] = bits[n * rows + row]! & 0xffff;
      }
  const packed = ops.upload(packedHost, [b, w, hl, d + 2], 'bf16');
  const out = ops.alloc([b, hl, d], 'bf16');
  const g = ops.alloc([b, hl], 'f32');
  poison(ops, out);
  poison(ops, g);
  ops.lseCombineA2a(packed, base2 ? '2' : 'e', out, g);
  // lsePack on rank-0's partials must reproduce the host packing bit for bit.
  const p0 = ops.upload(parts.slice(0, rows * d), [b, hl, d], 'bf16');
  const l0 = ops.upload(lses.slice(0, rows), [b, hl], 'f32');
  const pk = ops.alloc([b, hl, d + 2], 'bf16');
  ops.lsePack(p0, l0, pk);
  const got = bf16ToF64((await ops.download(out)) as Uint16Array);
  const gotG = (await ops.download(g)) as Float32Array;
  const gotPk = (await ops.download(pk)) as Uint16Array;
  for (const t of [packed, out, g, p0, l0, pk]) ops.dispose(t);
  let packBad = 0;
  for (let bb = 0; bb < b; bb++)
    for (let h = 0; h < hl; h++) {
      const src = (bb * w * hl + h) * (d + 2);
      const dst = (bb * hl + h) * (d + 2);
      for (let k = 0; k < d + 2; k++) if (gotPk[dst + k] !== packedHost[src + k]) packBad++;
    }
  const pf = bf16ToF64(parts);
  const ref = new Float64Array(rows * d);
  const refG = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const col = Array.from({ length: w }, (_, n) => lses[n * rows + i]!);
    const G = refGlobalLse(col, base2);
    refG[i] = G * (base2 ? Math.LN2 : 1);
    for (let n = 0; n < w; n++) {
      const l = col[n]!;
      const c = Number.isNaN(l) || l === Infinity ? -Infinity : l;
      let wt = base2 ? 2 ** (c - G) : Math.exp(c - G);
      if (Number.isNaN(wt)) wt = 0;
      if (wt === 0) continue;
      for (let k = 0; k < d; k++) ref[i * d + k] = ref[i * d + k]! + wt * pf[(n * rows + i) * d + k]!;
    }
  }
  const e = relError(got, ref);
  const le = lseErr(gotG, refG);
  return {
    name: `lsePack + lseCombineA2a, base ${base2 ? 2 : 'e'}`,
    ok: e <= TOL && le <= LSE_TOL && packBad === 0,
    err: e,
    detail: `global lse err ${le.toExponential(2)}, pack ${packBad} wrong lanes`,
  };
}
