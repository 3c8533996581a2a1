/** The dummy-weight generator: a pure, well-spread function of (seed, name, element index). */
import { describe, expect, it } from 'vitest';
import { dummyScale, dummyTensor, dummyUniform, nameHash } from './dummy.js';

function stats(a: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let s2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    s += a[i]!;
    s2 += a[i]! ** 2;
    min = Math.min(min, a[i]!);
    max = Math.max(max, a[i]!);
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean), min, max };
}

describe('dummyUniform', () => {
  it('is deterministic and in [-1, 1)', () => {
    const k = nameHash('model.layers.0.mlp.gate_proj.weight');
    for (let i = 0; i < 1000; i++) {
      const v = dummyUniform(5, k, i * 7919);
      expect(v).toBe(dummyUniform(5, k, i * 7919));
      expect(v).toBeGreaterThanOrEqual(-1);
      expect(v).toBeLessThan(1);
    }
  });

  it('looks uniform: mean 0, variance 1/3, no correlation between neighbours', () => {
    const n = 200_000;
    const xs = new Float64Array(n);
    const key = nameHash('w');
    for (let i = 0; i < n; i++) xs[i] = dummyUniform(1, key, i);
    const st = stats(xs);
    expect(Math.abs(st.mean)).toBeLessThan(0.01);
    expect(Math.abs(st.std ** 2 - 1 / 3)).toBeLessThan(0.01);
    let c = 0;
    for (let i = 1; i < n; i++) c += xs[i]! * xs[i - 1]!;
    expect(Math.abs(c / (n - 1) / (1 / 3))).toBeLessThan(0.02);
  });

  it('changes with the seed, the name and the high bits of the index', () => {
    const k = nameHash('a');
    expect(dummyUniform(1, k, 3)).not.toBe(dummyUniform(2, k, 3));
    expect(dummyUniform(1, k, 3)).not.toBe(dummyUniform(1, nameHash('b'), 3));
    expect(dummyUniform(1, k, 3)).not.toBe(dummyUniform(1, k, 3 + 2 ** 32));
  });
});

describe('dummyTensor scales', () => {
  it('norms near 1, projections with std 1/sqrt(fan_in), a wider LM head', () => {
    const norm = stats(dummyTensor(0, 'model.layers.0.input_layernorm.weight', [4096]));
    expect(Math.abs(norm.mean - 1)).toBeLessThan(0.01);
    expect(norm.min).toBeGreaterThanOrEqual(0.9);
    const proj = stats(dummyTensor(0, 'model.layers.0.self_attn.o_proj.weight', [64, 1024]));
    expect(Math.abs(proj.std * Math.sqrt(1024) - 1)).toBeLessThan(0.02);
    const head = dummyScale('lm_head.weight', [100, 256]);
    expect(head.scale).toBeCloseTo(3 * Math.sqrt(3 / 256), 12);
    expect(dummyScale('model.embed_tokens.weight', [100, 256]).scale).toBe(1);
  });
});
