import { parseHfModelConfig } from '@dcp/config';
import { registerCpuMla } from '@dcp/cpu-mla';
import { dummyWeightSource, openHttpCheckpoint, tensorReaderWeightSource } from '@dcp/model';
import { registerWebgpuMla } from '@dcp/webgpu-mla';
import type { LoadProgressMessage } from '../executor/protocol.js';
import type { RankRunner } from '../executor/rank-loop.js';
import { buildRankRunner, type RankWeights } from '../runner/build-rank.js';
import type { WebRankInit } from './protocol.js';

/**
 * Builds one rank inside its Web Worker (the engine's one rank setup, `buildRankRunner`, with
 * the browser's pieces): its shared-memory communicators, a backend selected in this worker
 * (`webgpu-mla` requests its own adapter and device from this worker's `navigator.gpu`;
 * `cpu-mla` needs nothing), its weight shard (dummy, or fetched over HTTP with Range requests:
 * only its slices) and its KV cache. `facts` are added to what the rank reports.
 */
export async function buildWebRank(
  d: WebRankInit,
  onProgress: (m: LoadProgressMessage) => void,
  facts: Record<string, unknown> = {},
): Promise<RankRunner> {
  const w = d.weights;
  return buildRankRunner(d, {
    modelConfig: parseHfModelConfig(d.hfConfig),
    registerBackends: (registry) => {
      registerCpuMla(registry);
      registerWebgpuMla(registry, { allowSoftware: d.allowSoftwareGpu });
    },
    openWeights: async (): Promise<RankWeights> => {
      if (w.kind === 'dummy')
        return { source: dummyWeightSource(w.seed), describe: () => `dummy(seed=${w.seed})` };
      const checkpoint = await openHttpCheckpoint(w.url);
      return {
        source: tensorReaderWeightSource(checkpoint, checkpoint.url),
        describe: () => `${checkpoint.url} (${checkpoint.stats.bytesRead} bytes fetched)`,
      };
    },
    onProgress,
    facts,
  });
}
