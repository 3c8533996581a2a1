/**
 * The local DCP merge kernels (spec §4.3–4.4): the ag_rs LSE correction, the a2a pack, and the
 * a2a combine. Both bases are supported; the global LSE is always written as a natural log.
 */
import type { Tensor } from '@dcp/backend';
import type { Scratch } from './scratch.js';
import { arg, commit, f32, outF32, readRow } from './tensor.js';

const NEG_INF = Number.NEGATIVE_INFINITY;
const LN2 = Math.LN2;

/** NaN and +inf become −inf (an empty or broken shard contributes nothing). */
function clean(x: number): number {
  return Number.isNaN(x) || x === Number.POSITIVE_INFINITY ? NEG_INF : x;
}

/** `G = log Σ exp(l_n)` in `base`, stable, over `w` values at `v[o + n·stride]` (already clean). */
function logSumExp(v: Float64Array, w: number, base2: boolean): number {
  let m = NEG_INF;
  for (let n = 0; n < w; n++) if (v[n]! > m) m = v[n]!;
  if (m === NEG_INF) m = 0;
  let sum = 0;
  for (let n = 0; n < w; n++) sum += base2 ? 2 ** (v[n]! - m) : Math.exp(v[n]! - m);
  return (base2 ? Math.log2(sum) : Math.log(sum)) + m;
}

function dims3(t: Tensor, field: string): [number, number, number] {
  const c = arg(t, field);
  if (c.shape.length !== 3) throw new RangeError(`${field}: must be [B, H, D], got [${c.shape.join(', ')}]`);
  return c.shape as [number, number, number];
}

/** ag_rs correction of this rank's partial output, in place. */
export function lseCorrect(
  out: Tensor,
  lses: Tensor,
  rank: number,
  base: 'e' | '2',
  globalLse: Tensor | null,
): void {
  const [B, H, D] = dims3(out, 'lseCorrect out');
  const LS = f32(lses, 'lseCorrect lses');
  if (B * H === 0) return;
  const W = LS.length / (B * H);
  if (!Number.isInteger(W) || W < 1) throw new RangeError(`lseCorrect lses: must be [W, ${B}, ${H}]`);
  if (!(Number.isInteger(rank) && rank >= 0 && rank < W))
    throw new RangeError(`lseCorrect rank: ${rank} outside [0, ${W})`);
  if (base !== 'e' && base !== '2')
    throw new RangeError(`lseCorrect base: must be 'e' or '2', got ${String(base)}`);
  const G = globalLse ? arg(globalLse, 'lseCorrect globalLse') : null;
  if (G && (G.dtype !== 'f32' || G.data.length !== B * H))
    throw new RangeError(`lseCorrect globalLse: must be f32 [${B}, ${H}]`);
  const base2 = base === '2';
  const O = f32(out, 'lseCorrect out');
  const v = new Float64Array(W);
  for (let i = 0; i < B * H; i++) {
    for (let n = 0; n < W; n++) v[n] = clean(LS[n * B * H + i]!);
    const g = logSumExp(v, W, base2);
    let d = v[rank]! - g;
    if (Number.isNaN(d) || !Number.isFinite(d)) d = NEG_INF;
    const factor = base2 ? 2 ** d : Math.exp(d);
    const o = i * D;
    if (factor === 0) O.fill(0, o, o + D);
    else for (let k = 0; k < D; k++) O[o + k] = O[o + k]! * factor;
    if (G) (G.data as Float32Array)[i] = base2 ? g * LN2 : g;
  }
  commit(out, O);
}

/** Packs `out` `[B, H, D]` and `lse` `[B, H]` into `[B, H, D + P]` (P = 1 for f32, 2 for 16-bit). */
export function lsePack(out: Tensor, lse: Tensor, packed: Tensor): void {
  const [B, H, D] = dims3(out, 'lsePack out');
  const Ot = arg(out, 'lsePack out');
  const Pt = arg(packed, 'lsePack packed');
  const L = f32(lse, 'lsePack lse');
  if (L.length !== B * H) throw new RangeError(`lsePack lse: must be [${B}, ${H}]`);
  if (Pt.dtype !== Ot.dtype) throw new TypeError(`lsePack packed: must have out's dtype ${Ot.dtype}`);
  const P = Ot.dtype === 'f32' ? 1 : 2;
  if (Pt.data.length !== B * H * (D + P))
    throw new RangeError(`lsePack packed: must be [${B}, ${H}, ${D + P}]`);
  const bits = new Uint32Array(new Float32Array(L).buffer);
  for (let i = 0; i < B * H; i++) {
    const po = i * (D + P);
    Pt.data.set(Ot.data.subarray(i * D, (i + 1) * D), po);
    if (P === 1) Pt.data[po + D] = L[i]!;
    else {
      Pt.data[po + D] = bits[i]! >>> 16;
      Pt.data[po + D + 1] = bits[i]! & 0xffff;
    }
  }
}

/** The a2a combine: `packed` `[B, W, Hl, D + P]` → `out` `[B, Hl, D]` (+ natural-log LSE). */
export function lseCombineA2a(
  packed: Tensor,
  base: 'e' | '2',
  out: Tensor,
  outLse: Tensor | null,
  s: Scratch,
): void {
  const [B, Hl, D] = dims3(out, 'lseCombineA2a out');
  const Pt = arg(packed, 'lseCombineA2a packed');
  if (Pt.dtype === 'i32') throw new TypeError('lseCombineA2a packed: must be a float tensor');
  if (base !== 'e' && base !== '2')
    throw new RangeError(`lseCombineA2a base: must be 'e' or '2', got ${String(base)}`);
  const P = Pt.dtype === 'f32' ? 1 : 2;
  const W = Pt.data.length / (B * Hl * (D + P));
  if (B * Hl > 0 && (!Number.isInteger(W) || W < 1)) {
    throw new RangeError(
      `lseCombineA2a packed: must be [${B}, W, ${Hl}, ${D + P}] (${Pt.dtype} packs the LSE in ${P} lane(s))`,
    );
  }
  const OL = outLse ? arg(outLse, 'lseCombineA2a outLse') : null;
  if (OL && (OL.dtype !== 'f32' || OL.data.length !== B * Hl))
    throw new RangeError(`lseCombineA2a outLse: must be f32 [${B}, ${Hl}]`);
  const O = outF32(out, 'lseCombineA2a out');
  const base2 = base === '2';
  const v = new Float64Array(W);
  const u = new Uint32Array(1);
  const uf = new Float32Array(u.buffer);
  const part = s.get('a2a-part', D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hl; h++) {
      for (let n = 0; n < W; n++) {
        const po = ((b * W + n) * Hl + h) * (D + P) + D;
        if (P === 1) v[n] = clean(Pt.data[po]!);
        else {
          u[0] = ((Pt.data[po]! << 16) | Pt.data[po + 1]!) >>> 0;
          v[n] = clean(uf[0]!);
        }
      }
      const g = logSumExp(v, W, base2);
      const o = (b * Hl + h) * D;
      O.fill(0, o, o + D);
      for (let n = 0; n < W; n++) {
        let wn = base2 ? 2 ** (v[n]! - g) : Math.exp(v[n]! - g);
        if (Number.isNaN(wn)) wn = 0;
        if (wn === 0) continue;
        const po = ((b * W + n) * Hl + h) * (D + P);
        readRow(Pt.data, Pt.dtype, po, D, part);
        for (let k = 0; k < D; k++) O[o + k]! += wn * part[k]!;
      }
      if (OL) (OL.data as Float32Array)[b * Hl + h] = base2 ? g * LN2 : g;
    }
  }
  commit(out, O);
}
