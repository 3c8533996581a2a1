import { tensorReaderWeightSource } from '../reader-weight-source.js';
import type { Checkpoint } from '../safetensors/index.js';
import type { WeightSource } from '../weight-source.js';

/**
 * A `WeightSource` over an open Hugging Face checkpoint folder (see `tensorReaderWeightSource`
 * for what it reads: shard slices only, f16/bf16 as f32, per-expert or fused experts).
 */
export function checkpointWeightSource(ckpt: Checkpoint): WeightSource {
  return tensorReaderWeightSource(ckpt, ckpt.dir);
}
