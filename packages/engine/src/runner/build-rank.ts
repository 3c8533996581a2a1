/**
 * One rank's setup, the same in a Node worker thread (`worker.ts`) and in a Web Worker
 * (`web/build-rank.ts`): the platform passes in what differs (the model config as read there,
 * which backends to register, how weights are opened, where progress goes) as plain values.
 */
import {
  type AttentionBackend,
  type BackendRegistry,
  createBackendRegistry,
  type FloatDType,
  selectBackend,
  type Tensor,
} from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import { DeepseekV2Model, rankLayout, type WeightSource } from '@dcp/model';
import { makeTopology, type ThreadCommState, type TopologyInput, threadGroupsFor } from '@dcp/parallel-state';
import type { LoadProgressMessage } from '../executor/protocol.js';
import type { RankRunner } from '../executor/rank-loop.js';
import { ModelRunner } from './model-runner.js';

/** What one rank is, on any platform (structured-cloneable; the comm state is shared memory). */
export interface RankSpec {
  rank: number;
  topology: TopologyInput;
  interleave: number;
  dcpCombine: 'ag_rs' | 'a2a';
  dtype: FloatDType;
  kvDtype: FloatDType;
  blockSize: number;
  numBlocks: number;
  /** Force a backend by name, or null for the best registered one that fits. */
  attentionBackend: string | null;
  comm: ThreadCommState;
}

/** A rank's opened weights. */
export interface RankWeights {
  source: WeightSource;
  /** How the rank reports its weights (asked once they are loaded). */
  describe(): string;
  /** Called once loading ended, loaded or not (open files). */
  close?(): Promise<void>;
}

/** What differs between platforms when a rank builds itself. */
export interface RankPlatform {
  /** The model's config, as read or fetched on this platform. */
  modelConfig: ModelConfig;
  /** Registers the backends this rank may select. */
  registerBackends(registry: BackendRegistry): void;
  /** Opens the weights (after the backend is chosen: a failure then releases the device). */
  openWeights(): Promise<RankWeights>;
  /** Weight-loading progress of this rank. */
  onProgress(m: LoadProgressMessage): void;
  /** Facts put first in what the rank reports. */
  facts?: Record<string, unknown>;
}

/** A device backend that moves collectives through host arrays (webgpu-mla). */
interface WrappingBackend {
  wrapCommunicator(c: unknown): unknown;
  readonly adapter?: unknown;
}

/**
 * Builds one rank: its communicators, a backend selected from what `p.registerBackends` put in
 * the registry, its weight shard (collectives wrapped where the backend asks), its KV cache, one
 * element read back so that a device error fails here rather than in the first step, and the
 * `ModelRunner`. On failure, and on `close`, the backend and its device are released.
 */
export async function buildRankRunner(d: RankSpec, p: RankPlatform): Promise<RankRunner> {
  const topology = makeTopology(d.topology);
  const info = topology.ranks[d.rank];
  if (!info) throw new Error(`rank: ${d.rank} is outside the world of ${topology.worldSize}`);
  const groups = threadGroupsFor(d.comm, d.rank);
  const config = p.modelConfig;
  const { shard, dcp } = rankLayout(topology, d.rank, config, d.interleave);
  const registry = createBackendRegistry();
  p.registerBackends(registry);
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
  // Frees every tensor and the device. WebGPU in Node: Dawn aborts the whole process when a
  // thread ends with device work pending, so a rank releases its device before it ends; in a
  // browser the worker may live on after a failed start.
  const release = async () => {
    backend.destroy();
    await (selection.descriptor as { close?: () => Promise<void> }).close?.();
  };
  try {
    const gpu = 'wrapCommunicator' in backend ? (backend as unknown as WrappingBackend) : null;
    const wrap = <C>(c: C): C => (gpu ? (gpu.wrapCommunicator(c) as C) : c);
    const weights = await p.openWeights();
    let model: DeepseekV2Model;
    try {
      model = await DeepseekV2Model.load({
        config,
        backend,
        shard,
        dcp,
        comms: { tp: wrap(groups.tp), dcp: wrap(groups.dcp) },
        dtype: d.dtype,
        dcpCombine: d.dcpCombine,
        source: weights.source,
        onProgress: (q) =>
          p.onProgress({ type: 'progress', rank: d.rank, bytesDone: q.bytesDone, bytesTotal: q.bytesTotal }),
      });
    } finally {
      await weights.close?.();
    }
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
        ...p.facts,
        rank: d.rank,
        backend: selection.descriptor.name,
        rejected: selection.rejected,
        layers: [shard.layerStart, shard.layerEnd],
        weights: weights.describe(),
        ...(gpu?.adapter !== undefined ? { adapter: gpu.adapter } : {}),
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
