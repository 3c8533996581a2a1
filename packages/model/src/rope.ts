import type { ModelConfig } from '@dcp/config';

/**
 * Rotary-embedding constants of a DeepSeek-V2 model, computed the way Hugging Face transformers'
 * `DeepseekV2RotaryEmbedding` does: one inverse frequency per rotated pair (`qkRopeHeadDim / 2`
 * of them), a factor that scales both cos and sin (YaRN's `attention_factor`), and the softmax
 * scale of the attention (`qkHeadDim^-0.5`, times `mscale(factor, mscaleAllDim)^2` under YaRN).
 */
export interface RopeTables {
  /** `1 / base^(2i/dim)`, YaRN-blended when the config asks for it; length `qkRopeHeadDim / 2`. */
  invFreq: Float64Array;
  /** Multiplies cos and sin (1 without YaRN). */
  cosSinScale: number;
  /** The attention softmax scale. */
  softmaxScale: number;
}

/** YaRN's magnitude correction: `0.1·m·ln(scale) + 1`, or 1 when `scale <= 1`. */
export function yarnMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

/** Computes the rotary tables and softmax scale of `config` (see {@link RopeTables}). */
export function ropeTables(config: ModelConfig): RopeTables {
  const dim = config.qkRopeHeadDim;
  if (!Number.isInteger(dim) || dim <= 0 || dim % 2 !== 0) {
    throw new RangeError(`qkRopeHeadDim must be a positive even integer, got ${dim}`);
  }
  const base = config.ropeTheta;
  const half = dim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / base ** ((2 * i) / dim);
  let softmaxScale = (config.qkNopeHeadDim + config.qkRopeHeadDim) ** -0.5;
  const rope = config.rope;
  if (rope.type !== 'yarn') return { invFreq, cosSinScale: 1, softmaxScale };

  const { factor, betaFast, betaSlow, mscale, mscaleAllDim, originalMaxPositionEmbeddings } = rope;
  const correctionDim = (rotations: number) =>
    (dim * Math.log(originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  const low = Math.max(Math.floor(correctionDim(betaFast)), 0);
  let high = Math.min(Math.ceil(correctionDim(betaSlow)), dim - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    const posFreq = base ** ((2 * i) / dim);
    invFreq[i] = (1 / (factor * posFreq)) * (1 - extrapolation) + (1 / posFreq) * extrapolation;
  }
  const cosSinScale =
    mscale && mscaleAllDim
      ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim)
      : yarnMscale(factor);
  const m = yarnMscale(factor, mscaleAllDim);
  softmaxScale *= m * m;
  return { invFreq, cosSinScale, softmaxScale };
}

/**
 * Cos and sin tables (row-major `[positions.length, qkRopeHeadDim / 2]`, already multiplied by
 * `cosSinScale`) for the given positions. Rotation acts on interleaved pairs `(x[2i], x[2i+1])`.
 */
export function ropeCosSin(
  tables: RopeTables,
  positions: ArrayLike<number>,
): { cos: Float32Array; sin: Float32Array } {
  const half = tables.invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let t = 0; t < positions.length; t++) {
    const p = positions[t]!;
    for (let i = 0; i < half; i++) {
      // transformers computes the angle in float32: fround each step to follow it.
      const angle = Math.fround(Math.fround(tables.invFreq[i]!) * p);
      cos[t * half + i] = Math.cos(angle) * tables.cosSinScale;
      sin[t * half + i] = Math.sin(angle) * tables.cosSinScale;
    }
  }
  return { cos, sin };
}
