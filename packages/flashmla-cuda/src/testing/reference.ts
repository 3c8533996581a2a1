/**
 * Independent float64 references for the kernels, written straight from the math in the spec
 * (dcp-spec §4.2–§4.4, §5.3), plus a seeded PRNG for test inputs.
 */

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exact float value of a bf16 bit pattern. */
export function bf16Value(bits: number): number {
  const f = new Float32Array(new Uint32Array([(bits & 0xffff) << 16]).buffer);
  return f[0]!;
}

/** Decodes a whole bf16 array to float64. */
export function bf16ToF64(src: Uint16Array): Float64Array {
  const u = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  return Float64Array.from(new Float32Array(u.buffer));
}

/**
 * Softmax attention of one token over `len` keys, all heads, in float64:
 * `lse_h = ln Σ_j exp(scale·q_h·k_j)`, `out_h = Σ_j exp(scale·q_h·k_j − lse_h)·k_j[0:dv]`.
 * `q` holds `heads` rows of `dk`; `key(j)` returns key j's `dk` values (offset `keyOff`).
 * `len = 0` gives LSE −inf and zero output.
 */
export function refAttention(
  q: ArrayLike<number>,
  qOff: number,
  heads: number,
  dk: number,
  dv: number,
  len: number,
  key: (j: number) => { data: ArrayLike<number>; off: number },
  scale: number,
): { out: Float64Array; lse: Float64Array } {
  const out = new Float64Array(heads * dv);
  const lse = new Float64Array(heads).fill(Number.NEGATIVE_INFINITY);
  if (len === 0) return { out, lse };
  const s = new Float64Array(len);
  for (let h = 0; h < heads; h++) {
    const qb = qOff + h * dk;
    let mx = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < len; j++) {
      const { data, off } = key(j);
      let dot = 0;
      for (let d = 0; d < dk; d++) dot += q[qb + d]! * data[off + d]!;
      s[j] = dot * scale;
      if (s[j]! > mx) mx = s[j]!;
    }
    let sum = 0;
    for (let j = 0; j < len; j++) {
      s[j] = Math.exp(s[j]! - mx);
      sum += s[j]!;
    }
    const ob = h * dv;
    for (let j = 0; j < len; j++) {
      const { data, off } = key(j);
      const w = s[j]! / sum;
      for (let d = 0; d < dv; d++) out[ob + d] = out[ob + d]! + w * data[off + d]!;
    }
    lse[h] = mx + Math.log(sum);
  }
  return { out, lse };
}

function clean(l: number): number {
  return Number.isNaN(l) || l === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : l;
}

/** Global LSE of shard LSEs (spec §4.3): sanitised, max −inf → 0, natural log or base 2. */
export function refGlobalLse(lses: readonly number[], base2 = false): number {
  const ex = base2 ? (x: number) => 2 ** x : Math.exp;
  const lg = base2 ? Math.log2 : Math.log;
  const c = lses.map(clean);
  let m = Math.max(...c);
  if (m === Number.NEGATIVE_INFINITY) m = 0;
  let sum = 0;
  for (const l of c) sum += ex(l - m);
  return lg(sum) + m;
}

/** The ag_rs correction factor of `rank` (spec §4.3 step 4). */
export function refCorrectionFactor(lses: readonly number[], rank: number, base2 = false): number {
  const g = refGlobalLse(lses, base2);
  let d = clean(lses[rank]!) - g;
  if (Number.isNaN(d) || !Number.isFinite(d)) d = Number.NEGATIVE_INFINITY;
  return base2 ? 2 ** d : Math.exp(d);
}

/** Relative L2 error ‖a − ref‖ / ‖ref‖ (absolute when ‖ref‖ = 0); NaN anywhere → Infinity. */
export function relError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const x = a[i]!;
    if (Number.isNaN(x)) return Number.POSITIVE_INFINITY;
    num += (x - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
