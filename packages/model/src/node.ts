/**
 * Node-only parts of `@dcp/model`: presets in the package, Hugging Face checkpoint loading over
 * the safetensors reader.
 */

import type { ModelConfig } from '@dcp/config';
import { loadHfModelConfig } from '@dcp/config/node';
import { checkpointWeightSource } from './node/checkpoint-source.js';
import { presetDir } from './node/presets.js';
import { type Checkpoint, openCheckpoint } from './safetensors/index.js';
import type { WeightSource } from './weight-source.js';

export { checkpointWeightSource } from './node/checkpoint-source.js';
export { PRESETS, type PresetName, presetDir } from './node/presets.js';
export * from './safetensors/index.js';

/** An opened Hugging Face model folder: its config and a weight source over its safetensors. */
export interface OpenedModel {
  config: ModelConfig;
  source: WeightSource;
  checkpoint: Checkpoint;
  /** Closes the files. */
  close(): Promise<void>;
}

/** Reads `config.json` and opens the safetensors of a Hugging Face DeepSeek-V2 folder. */
export async function openHfModel(dir: string): Promise<OpenedModel> {
  const config = await loadHfModelConfig(dir);
  const checkpoint = await openCheckpoint(dir);
  return { config, source: checkpointWeightSource(checkpoint), checkpoint, close: () => checkpoint.close() };
}

/** The `ModelConfig` of a preset shipped in the package (`tiny`, `deepseek-v2-lite`). */
export async function loadPresetConfig(name: string): Promise<ModelConfig> {
  return loadHfModelConfig(presetDir(name));
}
