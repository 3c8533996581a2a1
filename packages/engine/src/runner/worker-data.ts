import type { RankSpec } from './build-rank.js';

/** Everything one rank's worker thread needs to build itself (structured-cloneable). */
export interface RankWorkerData extends RankSpec {
  /** The model folder (a preset's or the user's). */
  modelDir: string;
  /** `dummy` ignores the folder's weights (its config.json is still read). */
  loadFormat: 'auto' | 'safetensors' | 'dummy';
  seed: number;
  /** `--attention-backend-config` (checked by the driver before the ranks start), or null. */
  attentionBackendConfig: Record<string, unknown> | null;
  /** The PCI bus ID of this rank's GPU (`--webgpu-devices`), or null for the first GPU. */
  pciBusId: string | null;
  /** An `Int32Array`'s shared memory, one for all ranks: their adapter requests take turns. */
  adapterLock: SharedArrayBuffer;
}
