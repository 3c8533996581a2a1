import type { ModelConfig } from '@dcp/config';
import { layerRange, type Topology } from '@dcp/parallel-state';
import type { DcpLayout } from './batch.js';
import { ModelError } from './errors.js';
import type { ModelShard } from './sharding.js';

/**
 * The `ModelShard` and `DcpLayout` of global rank `rank` in `topology`: its TP place, its stage's
 * layers (`layerRange`, uneven splits allowed) and its DCP place with interleave `interleave`.
 */
export function rankLayout(
  topology: Topology,
  rank: number,
  config: ModelConfig,
  interleave = 1,
): { shard: ModelShard; dcp: DcpLayout } {
  const info = topology.ranks[rank];
  if (!info) throw new ModelError('rank', `must be in [0, ${topology.worldSize}), got ${rank}`);
  if (!Number.isInteger(interleave) || interleave < 1) {
    throw new ModelError('interleave', `must be an integer >= 1, got ${interleave}`);
  }
  const layers = layerRange(config.numHiddenLayers, topology.pp, info.ppRank);
  return {
    shard: {
      tpRank: info.tpRank,
      tpSize: topology.tp,
      layerStart: layers.start,
      layerEnd: layers.end,
      isFirstStage: info.ppRank === 0,
      isLastStage: info.ppRank === topology.pp - 1,
    },
    dcp: { size: topology.dcp, rank: info.dcpRank, interleave },
  };
}
