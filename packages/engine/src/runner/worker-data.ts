import type { RankSpec } from './build-rank.js';

/** Everything one rank's worker thread needs to build itself (structured-cloneable). */
export interface RankWorkerData extends RankSpec {
  /** The model folder (a preset's or the user's). */
  modelDir: string;
  /** `dummy` ignores the folder's weights (its config.json is still read). */
  loadFormat: 'auto' | 'safetensors' | 'dummy';
  seed: number;
}
