/**
 * The worker-thread entry of one rank (built to `dist/worker.js`): it builds the rank with the
 * Node pieces (the model folder's config and safetensors, the backends Node may use, progress
 * through the thread's port) and then runs steps.
 */

import { parentPort } from 'node:worker_threads';
import { loadHfModelConfig } from '@dcp/config/node';
import { registerCpuMla } from '@dcp/cpu-mla';
import { registerFlashMlaCuda } from '@dcp/flashmla-cuda';
import { dummyWeightSource } from '@dcp/model';
import { openHfModel } from '@dcp/model/node';
import { registerWebgpuMla, webgpuMlaConfigOptions } from '@dcp/webgpu-mla';
import { type RankRunner, runWorkerLoop } from './executor/worker-loop.js';
import { buildRankRunner, type RankWeights } from './runner/build-rank.js';
import type { RankWorkerData } from './runner/worker-data.js';

runWorkerLoop(async (raw): Promise<RankRunner> => {
  const d = raw as RankWorkerData;
  return buildRankRunner(d, {
    modelConfig: await loadHfModelConfig(d.modelDir),
    registerBackends: (registry) => {
      registerCpuMla(registry);
      // Registered so that selection says why it is not used (no GPU, or ops of the whole model not written yet).
      registerFlashMlaCuda(registry);
      // WebGPU only when asked for by name (`--attention-backend webgpu-mla`, any layout): probing
      // Dawn in every rank would cost CPU users about a second of startup.
      if (d.attentionBackend === 'webgpu-mla') {
        registerWebgpuMla(registry, {
          allowSoftware: true,
          ...(d.attentionBackendConfig ? webgpuMlaConfigOptions(d.attentionBackendConfig) : {}),
          ...(d.pciBusId ? { pciBusId: d.pciBusId, adapterLock: new Int32Array(d.adapterLock) } : {}),
        });
      }
    },
    openWeights: async (): Promise<RankWeights> => {
      if (d.loadFormat === 'dummy') {
        return { source: dummyWeightSource(d.seed), describe: () => `dummy(seed=${d.seed})` };
      }
      const opened = await openHfModel(d.modelDir);
      return { source: opened.source, describe: () => 'checkpoint', close: () => opened.close() };
    },
    onProgress: (m) => parentPort?.postMessage(m),
  });
});
