/**
 * Mixture-of-experts: DeepSeek-V2 routing (softmax, greedy or group-limited greedy top-k) and
 * the local experts' dispatch → SwiGLU MLP → weighted combine.
 */
import type { MoeRouteOptions, Tensor } from '@dcp/backend';
import { gemmNT } from './gemm.js';
import type { Scratch } from './scratch.js';
import { arg, commit, expectNumel, f32, i32, outF32 } from './tensor.js';

/** Index of the largest `v[off + j]` over `j < n` with `ok(j)`; lowest index on ties. */
function pick(v: Float64Array, n: number, taken: Uint8Array): number {
  let best = -1;
  let bv = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) {
    if (taken[j]) continue;
    const x = v[j]!;
    if (best < 0 || x > bv) {
      best = j;
      bv = x;
    }
  }
  return best;
}

/** Routing: softmax scores, top-k, weights. */
export function moeRoute(logits: Tensor, o: MoeRouteOptions, ids: Tensor, weights: Tensor): void {
  const L = f32(logits, 'moeRoute logits');
  const Id = i32(ids, 'moeRoute ids');
  const Wt = arg(weights, 'moeRoute weights');
  if (Wt.dtype !== 'f32') throw new TypeError(`moeRoute weights: must be f32, got ${Wt.dtype}`);
  const Wd = Wt.data as Float32Array;
  const K = o.topK;
  if (!(Number.isInteger(K) && K >= 1))
    throw new RangeError(`moeRoute topK: must be an integer >= 1, got ${K}`);
  const n = Id.length / K;
  if (!Number.isInteger(n)) throw new RangeError(`moeRoute ids: ${Id.length} elements are not [n, ${K}]`);
  expectNumel(Wt, n * K, 'moeRoute weights', `[${n}, ${K}]`);
  if (n === 0) return;
  const E = L.length / n;
  if (!Number.isInteger(E) || E < K)
    throw new RangeError(`moeRoute logits: must be [${n}, E] with E >= topK ${K}`);
  const grouped = o.method === 'group_limited_greedy';
  if (!grouped && o.method !== 'greedy') {
    throw new RangeError(`moeRoute method: must be greedy or group_limited_greedy, got ${String(o.method)}`);
  }
  const G = o.nGroup ?? 1;
  const TG = o.topkGroup ?? G;
  if (grouped) {
    if (!(Number.isInteger(G) && G >= 1 && E % G === 0))
      throw new RangeError(`moeRoute nGroup: ${G} must divide the ${E} experts`);
    if (!(Number.isInteger(TG) && TG >= 1 && TG <= G))
      throw new RangeError(`moeRoute topkGroup: ${TG} must be in [1, nGroup ${G}]`);
    if (TG * (E / G) < K)
      throw new RangeError(`moeRoute: topkGroup ${TG} groups of ${E / G} experts hold fewer than topK ${K}`);
  }
  const scores = new Float64Array(E);
  const taken = new Uint8Array(E);
  const gScores = new Float64Array(G);
  const gTaken = new Uint8Array(G);
  const gs = E / G;
  for (let t = 0; t < n; t++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let e = 0; e < E; e++) m = Math.max(m, L[t * E + e]!);
    let sum = 0;
    for (let e = 0; e < E; e++) {
      scores[e] = Math.exp(L[t * E + e]! - m);
      sum += scores[e]!;
    }
    for (let e = 0; e < E; e++) scores[e] = scores[e]! / sum;
    taken.fill(0);
    if (grouped) {
      for (let g = 0; g < G; g++) {
        let gm = Number.NEGATIVE_INFINITY;
        for (let e = g * gs; e < (g + 1) * gs; e++) gm = Math.max(gm, scores[e]!);
        gScores[g] = gm;
      }
      gTaken.fill(0);
      for (let i = 0; i < TG; i++) gTaken[pick(gScores, G, gTaken)] = 1;
      // Experts of groups not kept are excluded ("taken") from the top-k.
      for (let g = 0; g < G; g++) if (!gTaken[g]) taken.fill(1, g * gs, (g + 1) * gs);
    }
    let wsum = 0;
    for (let k = 0; k < K; k++) {
      const e = pick(scores, E, taken);
      taken[e] = 1;
      Id[t * K + k] = e;
      Wd[t * K + k] = scores[e]!;
      wsum += scores[e]!;
    }
    for (let k = 0; k < K; k++) {
      const w = Wd[t * K + k]!;
      Wd[t * K + k] = K > 1 && o.normTopkProb ? w / (wsum + 1e-20) : w * o.routedScalingFactor;
    }
  }
}

/** The local experts' contribution for every token. */
export function moeExperts(
  x: Tensor,
  ids: Tensor,
  weights: Tensor,
  gateUp: Tensor,
  down: Tensor,
  expertStart: number,
  out: Tensor,
  s: Scratch,
): void {
  const GU = arg(gateUp, 'moeExperts gateUp');
  const DN = arg(down, 'moeExperts down');
  if (GU.shape.length !== 3 || DN.shape.length !== 3) {
    throw new RangeError('moeExperts: gateUp must be [E, 2I, hidden] and down [E, hidden, I]');
  }
  const [E, twoI, hidden] = GU.shape as [number, number, number];
  const I = twoI / 2;
  if (DN.shape[0] !== E || DN.shape[1] !== hidden || DN.shape[2] !== I) {
    throw new RangeError(`moeExperts down: must be [${E}, ${hidden}, ${I}], got [${DN.shape.join(', ')}]`);
  }
  const X = f32(x, 'moeExperts x');
  const n = X.length / hidden;
  if (!Number.isInteger(n)) throw new RangeError(`moeExperts x: must be [n, ${hidden}]`);
  const Id = i32(ids, 'moeExperts ids');
  const Wg = f32(weights, 'moeExperts weights');
  const K = n === 0 ? 0 : Id.length / n;
  if (!Number.isInteger(K) || Wg.length !== Id.length)
    throw new RangeError(`moeExperts ids/weights: must be [${n}, topK]`);
  expectNumel(arg(out, 'moeExperts out'), n * hidden, 'moeExperts out', `[${n}, ${hidden}]`);
  const O = outF32(out, 'moeExperts out');
  O.fill(0);
  // Bucket (token, weight) pairs by local expert.
  const count = new Int32Array(E + 1);
  for (let i = 0; i < Id.length; i++) {
    const e = Id[i]! - expertStart;
    if (e >= 0 && e < E) count[e + 1]!++;
  }
  for (let e = 0; e < E; e++) count[e + 1]! += count[e]!;
  const fill = count.slice(0, E);
  const tok = new Int32Array(count[E]!);
  const wt = new Float32Array(count[E]!);
  for (let i = 0; i < Id.length; i++) {
    const e = Id[i]! - expertStart;
    if (e < 0 || e >= E) continue;
    const at = fill[e]!++;
    tok[at] = (i / K) | 0;
    wt[at] = Wg[i]!;
  }
  const wbuf = s.get('w4', 4 * Math.max(hidden, I));
  for (let e = 0; e < E; e++) {
    const m = count[e + 1]! - count[e]!;
    if (m === 0) continue;
    const xe = s.get('moe-x', m * hidden);
    const h = s.get('moe-h', m * twoI);
    const a = s.get('moe-a', m * I);
    const y = s.get('moe-y', m * hidden);
    for (let r = 0; r < m; r++) {
      const t = tok[count[e]! + r]!;
      xe.set(X.subarray(t * hidden, (t + 1) * hidden), r * hidden);
    }
    gemmNT(xe, 0, hidden, m, hidden, GU.data, GU.dtype, e * twoI * hidden, twoI, h, 0, twoI, wbuf);
    for (let r = 0; r < m; r++) {
      for (let i = 0; i < I; i++) {
        const g = h[r * twoI + i]!;
        a[r * I + i] = (g / (1 + Math.exp(-g))) * h[r * twoI + I + i]!;
      }
    }
    gemmNT(a, 0, I, m, I, DN.data, DN.dtype, e * hidden * I, hidden, y, 0, hidden, wbuf);
    for (let r = 0; r < m; r++) {
      const t = tok[count[e]! + r]!;
      const w = wt[count[e]! + r]!;
      for (let c = 0; c < hidden; c++) O[t * hidden + c]! += w * y[r * hidden + c]!;
    }
  }
  commit(out, O);
}
