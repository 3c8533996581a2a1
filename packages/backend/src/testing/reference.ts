/**
 * Independent float64 reference math for the conformance suite: written for clarity (plain
 * loops over the definitions), never sharing code with a backend.
 */

/** `x · Wᵀ`: x `[n, k]`, w `[m, k]` → `[n, m]`. */
export function refLinear(x: Float64Array, w: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[i * k + p]! * w[j * k + p]!;
      out[i * m + j] = s;
    }
  }
  return out;
}

/** Softmax attention of one query against `keys.length` keys (scores already scaled). */
export function refSoftmax(scores: number[]): { probs: number[]; lse: number } {
  if (scores.length === 0) return { probs: [], lse: Number.NEGATIVE_INFINITY };
  const m = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return { probs: e.map((v) => v / sum), lse: Math.log(sum) + m };
}

/**
 * Attention of one query over keys/values given as row accessors: returns the output
 * (`dv` values; zeros when there are no keys) and the natural-log LSE.
 */
export function refAttend(
  q: (p: number) => number,
  dq: number,
  keys: ((p: number) => number)[],
  values: ((p: number) => number)[],
  dv: number,
  scale: number,
): { out: Float64Array; lse: number } {
  const scores = keys.map((k) => {
    let s = 0;
    for (let p = 0; p < dq; p++) s += q(p) * k(p);
    return s * scale;
  });
  const { probs, lse } = refSoftmax(scores);
  const out = new Float64Array(dv);
  probs.forEach((pr, j) => {
    const v = values[j]!;
    for (let p = 0; p < dv; p++) out[p]! += pr * v(p);
  });
  return { out, lse };
}

/**
 * vLLM's reference combine (`_lse_weighted_combine`) for one row: partial outputs and LSEs of
 * `W` shards in `base`; NaN/±inf LSEs count as empty shards. Returns the output and the global
 * LSE in natural log.
 */
export function refCombine(
  outs: ArrayLike<number>[],
  lses: number[],
  d: number,
  base: 'e' | '2',
): { out: Float64Array; lse: number } {
  const toE = base === '2' ? Math.LN2 : 1;
  const l = lses.map((x) => (Number.isFinite(x) ? x * toE : Number.NEGATIVE_INFINITY));
  const out = new Float64Array(d);
  const m = Math.max(...l);
  if (m === Number.NEGATIVE_INFINITY) return { out, lse: Number.NEGATIVE_INFINITY };
  const w = l.map((x) => Math.exp(x - m));
  const sum = w.reduce((a, b) => a + b, 0);
  w.forEach((wi, n) => {
    if (wi === 0) return;
    for (let p = 0; p < d; p++) out[p]! += (wi / sum) * outs[n]![p]!;
  });
  return { out, lse: Math.log(sum) + m };
}

/** RoPE of one row segment as the layouts define it (see `RopeLayout`). */
export function refRope(x: number[], cos: number[], sin: number[], layout: string): number[] {
  const d = x.length;
  const h = d / 2;
  const y = new Array<number>(d).fill(0);
  for (let i = 0; i < h; i++) {
    if (layout === 'half') {
      y[i] = x[i]! * cos[i]! - x[i + h]! * sin[i]!;
      y[i + h] = x[i + h]! * cos[i]! + x[i]! * sin[i]!;
    } else if (layout === 'interleaved') {
      y[2 * i] = x[2 * i]! * cos[i]! - x[2 * i + 1]! * sin[i]!;
      y[2 * i + 1] = x[2 * i + 1]! * cos[i]! + x[2 * i]! * sin[i]!;
    } else {
      // HF DeepSeek: permute interleaved pairs to halves, then rotate_half.
      const p = [
        ...Array.from({ length: h }, (_, k) => x[2 * k]!),
        ...Array.from({ length: h }, (_, k) => x[2 * k + 1]!),
      ];
      y[i] = p[i]! * cos[i]! - p[i + h]! * sin[i]!;
      y[i + h] = p[i + h]! * cos[i]! + p[i]! * sin[i]!;
    }
  }
  return y;
}

/** DCP owner rank of global position `p` (spec §0 step 2). */
export function refOwner(p: number, w: number, il: number): number {
  return Math.floor(p / il) % w;
}

/** Local index of global position `p` on its owner (spec §0 step 5, inverted). */
export function refLocalIndex(p: number, w: number, il: number): number {
  return Math.floor(p / (il * w)) * il + (p % il);
}

/** Local length on `rank` of a sequence of `len` tokens, by counting owned positions. */
export function refLocalLen(len: number, rank: number, w: number, il: number): number {
  let c = 0;
  for (let p = 0; p < len; p++) if (refOwner(p, w, il) === rank) c++;
  return c;
}
