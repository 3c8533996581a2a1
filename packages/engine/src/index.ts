export type { SamplingParams } from './sampling/params.js';
export { validateSamplingParams } from './sampling/params.js';
export { randomSeed, uniformAt } from './sampling/rng.js';
export { type SampledToken, sampleToken, type TokenLogprob } from './sampling/sampler.js';
export { argmax, logSumExp, topKIndices } from './sampling/topk.js';
export { IncrementalDetokenizer, type TokenDecoder } from './text/detokenizer.js';
export { type StopCheck, StopStringMatcher } from './text/stop.js';
