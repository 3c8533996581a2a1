/**
 * Indices of the `k` largest values of `values`, largest first; ties keep the lower index first.
 * O(V·k) insertion for small k, a full index sort for large k.
 */
export function topKIndices(values: Float32Array | Float64Array, k: number): number[] {
  const n = values.length;
  k = Math.min(k, n);
  if (k <= 0) return [];
  if (k > 64) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => values[b]! - values[a]! || a - b);
    return idx.slice(0, k);
  }
  const best: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (best.length === k && v <= values[best[k - 1]!]!) continue;
    let j = best.length < k ? best.length : k - 1;
    while (j > 0 && values[best[j - 1]!]! < v) {
      if (j < k) best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** Index of the largest value (the lowest index among ties); −1 for an empty array; NaN never wins. */
export function argmax(values: Float32Array | Float64Array): number {
  let best = -1;
  let bestV = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestV || (best < 0 && v === bestV)) {
      best = i;
      bestV = v;
    }
  }
  return best;
}

/** log Σ exp(values), accumulated in float64 around the max. */
export function logSumExp(values: Float32Array | Float64Array): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.exp(values[i]! - m);
  return m + Math.log(s);
}
