import type { FloatDType } from '@dcp/backend';
import type { TopologyInput } from '@dcp/parallel-state';
import type { ThreadCommState } from '@dcp/parallel-state/node';

/** Everything one rank's worker needs to build itself (structured-cloneable). */
export interface RankWorkerData {
  rank: number;
  topology: TopologyInput;
  interleave: number;
  dcpCombine: 'ag_rs' | 'a2a';
  /** The model folder (a preset's or the user's). */
  modelDir: string;
  /** `dummy` ignores the folder's weights (its config.json is still read). */
  loadFormat: 'auto' | 'safetensors' | 'dummy';
  seed: number;
  dtype: FloatDType;
  kvDtype: FloatDType;
  blockSize: number;
  numBlocks: number;
  attentionBackend: string | null;
  comm: ThreadCommState;
}
