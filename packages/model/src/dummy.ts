import type { ShardSlice } from './sharding.js';

/** FNV-1a hash of a tensor name (32-bit), the per-tensor key of the dummy generator. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * The counter-based generator behind `--load-format dummy`: a value in `[-1, 1)` that depends only
 * on `(seed, key, index)` (`key` = `nameHash(name)`, `index` = the element's row-major index in the
 * full, unsharded tensor, up to 2^53). No state: any shard of any layout regenerates the same values.
 */
export function dummyUniform(seed: number, key: number, index: number): number {
  const hi = Math.floor(index / 4294967296) >>> 0;
  return fromMixed(tensorBase(seed, key), index >>> 0, highMix(hi));
}

/** Per-tensor part of the hash (hoisted out of element loops). */
function tensorBase(seed: number, key: number): number {
  return fmix((seed ^ Math.imul(key, 0x9e3779b1)) + 0x632be5ab);
}

/** Mix of the index's high 32 bits (0 for every tensor under 2^32 elements). */
function highMix(hi: number): number {
  return Math.imul(hi + 0x7f4a7c15, 0x27d4eb2f);
}

function fromMixed(base: number, lo: number, hiMix: number): number {
  const h = fmix(fmix(base ^ lo) ^ hiMix);
  return (h >>> 8) / 8388608 - 1;
}

/**
 * How the dummy value of tensor `name` is scaled: norm weights `1 + 0.1·u`, embeddings `u`, biases
 * `0.02·u`, projections `u·sqrt(3/fan_in)` (standard deviation `1/sqrt(fan_in)`), with the LM head
 * three times wider so that logits are far from flat.
 */
export function dummyScale(name: string, fullShape: readonly number[]): { offset: number; scale: number } {
  if (name.endsWith('norm.weight')) return { offset: 1, scale: 0.1 };
  if (name === 'model.embed_tokens.weight') return { offset: 0, scale: 1 };
  if (name.endsWith('.bias')) return { offset: 0, scale: 0.02 };
  const fanIn = fullShape[fullShape.length - 1] ?? 1;
  const scale = Math.sqrt(3 / fanIn) * (name === 'lm_head.weight' ? 3 : 1);
  return { offset: 0, scale };
}

/**
 * Dummy values of `slice` of tensor `name` (full shape `fullShape`) for `seed`, as f32. Every
 * element is `offset + scale·dummyUniform(seed, nameHash(name), globalIndex)`.
 */
export function dummyTensor(
  seed: number,
  name: string,
  fullShape: readonly number[],
  slice: ShardSlice | null = null,
): Float32Array {
  const key = nameHash(name);
  const { offset, scale } = dummyScale(name, fullShape);
  const dim = slice?.dim ?? null;
  const total = fullShape.reduce((a, b) => a * b, 1);
  const base = tensorBase(seed, key);
  const hi0 = highMix(0);
  // Every element index of a tensor under 2^32 elements has high word 0: hoist its mix.
  const value =
    total <= 4294967296
      ? (i: number) => offset + scale * fromMixed(base, i >>> 0, hi0)
      : (i: number) => offset + scale * dummyUniform(seed, key, i);
  if (slice === null || dim === null) {
    const out = new Float32Array(total);
    for (let i = 0; i < total; i++) out[i] = value(i);
    return out;
  }
  const outer = fullShape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = fullShape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const dimLen = fullShape[dim]!;
  const len = slice.end - slice.start;
  const out = new Float32Array(outer * len * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let r = slice.start; r < slice.end; r++) {
      const row = (o * dimLen + r) * inner;
      for (let i = 0; i < inner; i++) out[k++] = value(row + i);
    }
  }
  return out;
}
