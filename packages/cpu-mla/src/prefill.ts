/**
 * Varlen prefill attention, tiled for a scalar CPU: per request and head, the keys (with the
 * shared `kShared` part appended) are packed into contiguous rows and the values transposed, once
 * per call; then queries go four at a time through two register-blocked passes, scores
 * (4 queries × 2 keys) and the weighted value sum (4 queries × 2 value columns). Causal masking
 * bounds each quad's key range, so masked key blocks are never touched.
 */
import type { Tensor, VarlenMeta } from '@dcp/backend';
import { dot4, dot42 } from './gemm.js';
import type { Scratch } from './scratch.js';
import { arg, commit, expectNumel, f32, i32, lastDim, outF32 } from './tensor.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** Varlen attention (causal bottom-right or non-causal) with an optional shared key part. */
export function attention(
  q: Tensor,
  k: Tensor,
  kShared: Tensor | null,
  v: Tensor,
  meta: VarlenMeta,
  scale: number,
  out: Tensor,
  lse: Tensor,
  s: Scratch,
): void {
  const cuQ = i32(meta.cuSeqLensQ, 'attention cuSeqLensQ');
  const cuK = i32(meta.cuSeqLensK, 'attention cuSeqLensK');
  if (cuQ.length !== cuK.length || cuQ.length < 1)
    throw new RangeError('attention: cuSeqLensQ and cuSeqLensK must both be [numReqs + 1]');
  const R = cuQ.length - 1;
  const nq = cuQ[R]!;
  const nk = cuK[R]!;
  const Lt = arg(lse, 'attention lse');
  if (Lt.dtype !== 'f32') throw new TypeError('attention lse: must be f32');
  if (nq === 0) return;
  const H = Lt.data.length / nq;
  if (!Number.isInteger(H) || H < 1) throw new RangeError(`attention lse: must be [${nq}, H]`);
  const Q = f32(q, 'attention q');
  const dq = Q.length / (nq * H);
  const K = f32(k, 'attention k');
  const V = f32(v, 'attention v');
  const KS = kShared ? f32(kShared, 'attention kShared') : null;
  const dk = nk === 0 ? dq - (KS ? lastDim(arg(kShared, 'attention kShared')) : 0) : K.length / (nk * H);
  const dr = KS ? (nk === 0 ? dq - dk : KS.length / nk) : 0;
  if (!Number.isInteger(dq) || dk + dr !== dq) {
    throw new RangeError(`attention: q head width ${dq} must equal k width ${dk} + kShared width ${dr}`);
  }
  const Ot = arg(out, 'attention out');
  const dv = lastDim(Ot);
  expectNumel(Ot, nq * H * dv, 'attention out', `[${nq}, ${H}, ${dv}]`);
  if (nk > 0 && V.length !== nk * H * dv) throw new RangeError(`attention v: must be [${nk}, ${H}, ${dv}]`);
  for (let r = 0; r < R; r++) {
    if (cuQ[r + 1]! < cuQ[r]! || cuK[r + 1]! < cuK[r]!)
      throw new RangeError(`attention: cuSeqLens decrease at request ${r}`);
  }
  const O = outF32(out, 'attention out');
  const LS = Lt.data as Float32Array;
  const sums = new Float64Array(8);
  const acc = new Float64Array(8);
  const hq = H * dq;
  const hv = H * dv;
  for (let r = 0; r < R; r++) {
    const q0 = cuQ[r]!;
    const qLen = cuQ[r + 1]! - q0;
    const k0 = cuK[r]!;
    const kLen = cuK[r + 1]! - k0;
    if (qLen === 0) continue;
    // Query i sees keys [0, vis(i)); vis grows with i, so a quad's range ends at its last query's.
    const shift = kLen - qLen + 1;
    const vis = (i: number) => (meta.causal ? Math.min(kLen, Math.max(0, shift + i)) : kLen);
    const KP = s.get('att-k', Math.max(1, kLen * dq));
    const VT = s.get('att-vt', Math.max(1, kLen * dv));
    const P = s.get('att-p', Math.max(1, 4 * kLen));
    for (let h = 0; h < H; h++) {
      // Pack: KP row j = [k(j, h) ‖ kShared(j)], VT row c = values of column c over the keys.
      for (let j = 0; j < kLen; j++) {
        const ko = ((k0 + j) * H + h) * dk;
        KP.set(K.subarray(ko, ko + dk), j * dq);
        if (KS) KP.set(KS.subarray((k0 + j) * dr, (k0 + j + 1) * dr), j * dq + dk);
        const vo = ((k0 + j) * H + h) * dv;
        for (let c = 0; c < dv; c++) VT[c * kLen + j] = V[vo + c]!;
      }
      for (let i = 0; i < qLen; i += 4) {
        const nr = Math.min(4, qLen - i);
        const top = vis(i + nr - 1);
        const qo = (q0 + i) * hq + h * dq;
        const oo = (q0 + i) * hv + h * dv;
        const lo = (q0 + i) * H + h;
        if (top === 0) {
          for (let rr = 0; rr < nr; rr++) {
            O.fill(0, oo + rr * hv, oo + rr * hv + dv);
            LS[lo + rr * H] = NEG_INF;
          }
          continue;
        }
        // Rows past the request's end repeat its last query (computed, never stored).
        const stepQ = (rr: number) => Math.min(rr, nr - 1) * hq;
        scores4(Q, qo, qo + stepQ(1), qo + stepQ(2), qo + stepQ(3), KP, dq, top, scale, P, kLen, acc);
        softmax4(P, kLen, top, nr, vis, i, sums);
        values4(P, kLen, VT, kLen, dv, nr, vis, i, sums, acc, O, oo, hv);
        for (let rr = 0; rr < nr; rr++) {
          const sum = sums[rr]!;
          LS[lo + rr * H] = sum === 0 ? NEG_INF : Math.log(sum) + sums[4 + rr]!;
        }
      }
    }
  }
  commit(out, O);
}

/**
 * `P[r·ld + j] = scale · (q_r · KP[j])` for four query rows (offsets `a0..a3` in `Q`) and keys
 * `j < n`: two keys at a time (`dot42`), `d8` an 8-value scratch.
 */
function scores4(
  Q: Float32Array,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  KP: Float32Array,
  d: number,
  n: number,
  scale: number,
  P: Float32Array,
  ld: number,
  d8: Float64Array,
): void {
  let j = 0;
  for (; j + 1 < n; j += 2) {
    dot42(Q, a0, a1, a2, a3, KP, j * d, (j + 1) * d, d, d8);
    for (let r = 0; r < 4; r++) {
      P[r * ld + j] = scale * d8[2 * r]!;
      P[r * ld + j + 1] = scale * d8[2 * r + 1]!;
    }
  }
  if (j < n) {
    dot4(Q, a0, a1, a2, a3, KP, j * d, d, d8);
    for (let r = 0; r < 4; r++) P[r * ld + j] = scale * d8[r]!;
  }
}

/**
 * Turns the scores of rows `r < nr` (query `i + r`, keys `[0, vis(i + r))`) into unnormalised
 * probabilities `exp(s − max)` in place, zeroing `[vis, top)`. Writes the sums to `out[0, 4)`
 * and the maxima to `out[4, 8)`.
 */
function softmax4(
  P: Float32Array,
  ld: number,
  top: number,
  nr: number,
  vis: (i: number) => number,
  i: number,
  out: Float64Array,
): void {
  for (let r = 0; r < nr; r++) {
    const n = vis(i + r);
    const o = r * ld;
    let m = NEG_INF;
    for (let j = 0; j < n; j++) {
      const x = P[o + j]!;
      if (x > m) m = x;
    }
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(P[o + j]! - m);
      P[o + j] = e;
      sum += e;
    }
    P.fill(0, o + n, o + top);
    out[r] = sum;
    out[4 + r] = m;
  }
}

/**
 * `O[oo + r·ldo + c] = Σ_{j < vis(i + r)} P[r·ld + j] · VT[c·ldv + j] / sums[r]` for rows
 * `r < nr` and columns `c < dv`: keys every row sees run four rows × two columns at a time; each
 * row's extra causal keys are added on their own (a masked key is never read).
 */
function values4(
  P: Float32Array,
  ld: number,
  VT: Float32Array,
  ldv: number,
  dv: number,
  nr: number,
  vis: (i: number) => number,
  i: number,
  sums: Float64Array,
  acc: Float64Array,
  O: Float32Array,
  oo: number,
  ldo: number,
): void {
  const common = vis(i);
  for (let c = 0; c < dv; c += 2) {
    const two = c + 1 < dv;
    const b0 = c * ldv;
    const b1 = two ? b0 + ldv : b0;
    // Keys every row sees: four rows × two columns (an odd last column pairs with itself).
    dot42(P, 0, ld, 2 * ld, 3 * ld, VT, b0, b1, common, acc);
    for (let half = 0; half < (two ? 2 : 1); half++) {
      const b = half === 0 ? b0 : b1;
      for (let r = 0; r < nr; r++) {
        const n = vis(i + r);
        const po = r * ld;
        let a = acc[2 * r + half]!;
        for (let j = common; j < n; j++) a += P[po + j]! * VT[b + j]!;
        const inv = sums[r] === 0 ? 0 : 1 / sums[r]!;
        O[oo + r * ldo + c + half] = a * inv;
      }
    }
  }
}
