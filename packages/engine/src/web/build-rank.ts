import { type AttentionBackend, createBackendRegistry, selectBackend, type Tensor } from '@dcp/backend';
import { parseHfModelConfig } from '@dcp/config';
import { registerCpuMla } from '@dcp/cpu-mla';
import {
  DeepseekV2Model,
  dummyWeightSource,
  openHttpCheckpoint,
  rankLayout,
  tensorReaderWeightSource,
} from '@dcp/model';
import { makeTopology, threadGroupsFor } from '@dcp/parallel-state';
import { registerWebgpuMla, type WebgpuMlaBackend } from '@dcp/webgpu-mla';
import type { LoadProgressMessage } from '../executor/protocol.js';
import type { RankRunner } from '../executor/worker-loop.js';
import { ModelRunner } from '../runner/model-runner.js';
import type { WebRankInit } from './protocol.js';

/**
 * Builds one rank inside its Web Worker: its shared-memory communicators, a backend selected in
 * this worker (`webgpu-mla` requests its own adapter and device from this worker's
 * `navigator.gpu`; `cpu-mla` needs nothing), its weight shard (dummy, or fetched over HTTP with
 * Range requests: only its slices) and its KV cache. `facts` are added to what the rank reports.
 */
export async function buildWebRank(
  d: WebRankInit,
  onProgress: (m: LoadProgressMessage) => void,
  facts: Record<string, unknown> = {},
): Promise<RankRunner> {
  const topology = makeTopology(d.topology);
  const info = topology.ranks[d.rank];
  if (!info) throw new Error(`rank: ${d.rank} is outside the world of ${topology.worldSize}`);
  const groups = threadGroupsFor(d.comm, d.rank);
  const config = parseHfModelConfig(d.hfConfig);
  const { shard, dcp } = rankLayout(topology, d.rank, config, d.interleave);
  const registry = createBackendRegistry();
  registerCpuMla(registry);
  registerWebgpuMla(registry, { allowSoftware: d.allowSoftwareGpu });
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
  const backend = selection.backend as AttentionBackend<Tensor, unknown>;
  // Frees every tensor and the device (the worker may live on after a failed start).
  const release = async () => {
    backend.destroy();
    await (selection.descriptor as { close?: () => Promise<void> }).close?.();
  };
  try {
    // webgpu-mla moves collectives through host arrays: it wraps the shared-memory communicators.
    const gpu = 'wrapCommunicator' in backend ? (backend as unknown as WebgpuMlaBackend) : null;
    const wrap = <C>(c: C): C => (gpu ? (gpu.wrapCommunicator(c as never) as unknown as C) : c);
    const checkpoint = d.weights.kind === 'safetensors' ? await openHttpCheckpoint(d.weights.url) : null;
    const model = await DeepseekV2Model.load({
      config,
      backend,
      shard,
      dcp,
      comms: { tp: wrap(groups.tp), dcp: wrap(groups.dcp) },
      dtype: d.dtype,
      dcpCombine: d.dcpCombine,
      source: checkpoint
        ? tensorReaderWeightSource(checkpoint, checkpoint.url)
        : dummyWeightSource(d.weights.kind === 'dummy' ? d.weights.seed : 0),
      onProgress: (p) =>
        onProgress({ type: 'progress', rank: d.rank, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
    });
    model.allocateKvCache(d.numBlocks, d.blockSize, d.kvDtype);
    // A device backend queues loading and allocation until something is read: read one element
    // so that a device error (out of memory, limits) fails the startup, not the first step.
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
        ...facts,
        rank: d.rank,
        backend: selection.descriptor.name,
        rejected: selection.rejected,
        layers: [shard.layerStart, shard.layerEnd],
        weights: checkpoint
          ? `${checkpoint.url} (${checkpoint.stats.bytesRead} bytes fetched)`
          : `dummy(seed=${d.weights.kind === 'dummy' ? d.weights.seed : 0})`,
        ...(gpu ? { adapter: gpu.adapter } : {}),
      },
    });
    return {
      info: () => runner.info(),
      execute: (input) => runner.execute(input),
      close: async () => {
        model.dispose();
        await release();
      },
    };
  } catch (e) {
    await release().catch(() => {});
    throw e;
  }
}
