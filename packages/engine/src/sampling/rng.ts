/**
 * Counter-based random numbers for sampling: the uniform draw of a request's step is a pure
 * function of (seed, step), so the same seed gives the same tokens in any layout, whatever the
 * batching, and nothing is kept between steps but the step counter.
 */

/** A 32-bit avalanche mix (the finaliser of MurmurHash3). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Uniform number in [0, 1) for draw `draw` of step `step` of a request seeded with `seed`
 * (any safe integer; negative and large seeds are folded to 64 bits as two 32-bit words).
 * 53 random bits, built from two independent 32-bit hashes.
 */
export function uniformAt(seed: number, step: number, draw = 0): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  const base = fmix32(lo ^ fmix32(hi ^ 0x9e3779b9));
  const a = fmix32(base ^ fmix32(step + 0x7f4a7c15) ^ Math.imul(draw, 0x27d4eb2f));
  const b = fmix32(a ^ 0x165667b1 ^ fmix32(step ^ 0x5bd1e995));
  return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
}

/** A fresh random seed for requests that gave none (from Math.random: not reproducible by design). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) * 0x20_0000 + Math.floor(Math.random() * 0x20_0000);
}
