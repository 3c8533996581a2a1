/**
 * The worker-thread entry of one rank (built to `dist/worker.js`): it opens its communicators,
 * selects a backend, loads its weight shard, allocates its KV cache and then runs steps.
 */

import { parentPort } from 'node:worker_threads';
import { createBackendRegistry, type FloatDType, selectBackend } from '@dcp/backend';
import { loadHfModelConfig } from '@dcp/config/node';
import { registerCpuMla } from '@dcp/cpu-mla';
import { registerFlashMlaCuda } from '@dcp/flashmla-cuda';
import { DeepseekV2Model, dummyWeightSource, rankLayout } from '@dcp/model';
import { openHfModel } from '@dcp/model/node';
import { makeTopology } from '@dcp/parallel-state';
import { threadGroupsFor } from '@dcp/parallel-state/node';
import { registerWebgpuMla, type WebgpuMlaBackend } from '@dcp/webgpu-mla';
import type { LoadProgressMessage } from './executor/protocol.js';
import { type RankRunner, runWorkerLoop } from './executor/worker-loop.js';
import { ModelRunner } from './runner/model-runner.js';
import type { RankWorkerData } from './runner/worker-data.js';

runWorkerLoop(async (raw): Promise<RankRunner> => {
  const d = raw as RankWorkerData;
  const topology = makeTopology(d.topology);
  const info = topology.ranks[d.rank]!;
  const groups = threadGroupsFor(d.comm, d.rank);
  const config = await loadHfModelConfig(d.modelDir);
  const { shard, dcp } = rankLayout(topology, d.rank, config, d.interleave);
  const registry = createBackendRegistry();
  registerCpuMla(registry);
  // Registered so that selection says why it is not used (no GPU, or ops of the whole model not written yet).
  registerFlashMlaCuda(registry);
  // WebGPU only when asked for by name (`--attention-backend webgpu-mla`, any layout): probing
  // Dawn in every rank would cost CPU users about a second of startup.
  if (d.attentionBackend === 'webgpu-mla') registerWebgpuMla(registry, { allowSoftware: true });
  const selection = await selectBackend(
    registry,
    {
      dtype: d.dtype,
      kvCacheDtype: d.kvDtype,
      blockSize: d.blockSize,
      kvLoraRank: config.kvLoraRank,
      ropeDim: config.qkRopeHeadDim,
      numHeads: config.numAttentionHeads / topology.tp,
      dcp: topology.dcp,
      interleave: d.interleave,
    },
    d.attentionBackend ? { name: d.attentionBackend } : {},
  );
  const backend = selection.backend;
  // Frees every tensor and the device (WebGPU: Dawn aborts the whole process when a thread ends
  // with device work pending, so a rank releases its device before its thread exits).
  const release = async () => {
    backend.destroy();
    await (selection.descriptor as { close?: () => Promise<void> }).close?.();
  };
  try {
    // A device backend whose collectives must go through host arrays wraps the host communicators.
    const gpu = 'wrapCommunicator' in backend ? (backend as unknown as WebgpuMlaBackend) : null;
    const wrap = <C>(c: C): C => (gpu ? (gpu.wrapCommunicator(c as never) as unknown as C) : c);
    const opened = d.loadFormat === 'dummy' ? null : await openHfModel(d.modelDir);
    const model = await DeepseekV2Model.load({
      config,
      backend,
      shard,
      dcp,
      comms: { tp: wrap(groups.tp), dcp: wrap(groups.dcp) },
      dtype: d.dtype as FloatDType,
      dcpCombine: d.dcpCombine,
      source: opened?.source ?? dummyWeightSource(d.seed),
      onProgress: (p) => {
        const m: LoadProgressMessage = {
          type: 'progress',
          rank: d.rank,
          bytesDone: p.bytesDone,
          bytesTotal: p.bytesTotal,
        };
        parentPort?.postMessage(m);
      },
    });
    await opened?.close();
    model.allocateKvCache(d.numBlocks, d.blockSize, d.kvDtype);
    // A device backend queues loading and allocation until something is read: read one element so
    // that a device error (out of memory, a binding over the adapter's limits) fails the startup.
    const probe = backend.alloc([1], 'f32');
    await backend.download(probe);
    backend.dispose(probe);
    const runner = new ModelRunner({
      model,
      backend,
      config,
      layout: { blockSize: d.blockSize, dcp: topology.dcp, dcpRank: info.dcpRank, interleave: d.interleave },
      pp: { comm: topology.pp > 1 ? wrap(groups.pp) : null, rank: info.ppRank, size: topology.pp },
      isOutputRank: info.ppRank === topology.pp - 1 && info.tpRank === 0,
      dtype: d.dtype,
      info: {
        rank: d.rank,
        backend: selection.descriptor.name,
        rejected: selection.rejected,
        layers: [shard.layerStart, shard.layerEnd],
        weights: opened ? 'checkpoint' : `dummy(seed=${d.seed})`,
      },
    });
    return { info: () => runner.info(), execute: (input) => runner.execute(input), close: release };
  } catch (e) {
    await release().catch(() => {});
    throw e;
  }
});
