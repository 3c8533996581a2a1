/**
 * Test drivers: run one request through a model in chunks (prefill in one go, chunked prefill,
 * token-by-token decode), on one rank or on every rank of a layout with in-process communicators.
 */
import type { AttentionBackend, Tensor } from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import { createCpuMlaBackend } from '@dcp/cpu-mla';
import {
  type Communicator,
  createLocalGroups,
  type HostArray,
  makeTopology,
  slotMapping,
  type Topology,
} from '@dcp/parallel-state';
import { rankLayout } from '../layout.js';
import { DeepseekV2Model } from '../model.js';
import type { ModelShard } from '../sharding.js';
import type { WeightSource } from '../weight-source.js';

/** A parallel layout of a test run. */
export interface Layout {
  tp: number;
  pp: number;
  dcp: number;
  interleave?: number;
  /** Activation/weight dtype (default f32). */
  dtype?: 'f32' | 'bf16' | 'f16';
  /** `contextChunkTokens` of the model (default: the model's). */
  contextChunk?: number;
  /** DCP merge (default `ag_rs`). */
  combine?: 'ag_rs' | 'a2a';
}

/** One rank's model and place. */
export interface RankModel {
  rank: number;
  model: DeepseekV2Model<Tensor, unknown>;
  dcpRank: number;
  shard: ModelShard;
  pp: Communicator<HostArray> | null;
}

/** Loads every rank of `layout` over cpu-mla (f32), with caches of `numBlocks × blockSize`. */
export async function loadRanks(
  config: ModelConfig,
  source: WeightSource,
  layout: Layout,
  blockSize = 4,
  numBlocks = 64,
): Promise<{ topology: Topology; ranks: RankModel[] }> {
  const topology = makeTopology({ tp: layout.tp, pp: layout.pp, dcp: layout.dcp });
  const groups = createLocalGroups(topology);
  const ranks = await Promise.all(
    topology.ranks.map(async (info) => {
      const { shard, dcp } = rankLayout(topology, info.rank, config, layout.interleave ?? 1);
      const backend = createCpuMlaBackend() as AttentionBackend<Tensor, unknown>;
      const g = groups[info.rank]!;
      const model = await DeepseekV2Model.load({
        config,
        backend,
        shard,
        source,
        dcp,
        dtype: layout.dtype ?? 'f32',
        ...(layout.contextChunk ? { contextChunkTokens: layout.contextChunk } : {}),
        ...(layout.combine ? { dcpCombine: layout.combine } : {}),
        comms: { tp: g.tp as never, dcp: g.dcp as never },
      });
      model.allocateKvCache(numBlocks, blockSize);
      return {
        rank: info.rank,
        model,
        dcpRank: info.dcpRank,
        shard,
        pp: layout.pp > 1 ? g.pp : null,
      };
    }),
  );
  return { topology, ranks };
}

/**
 * Runs `tokens` as one request through every rank, `chunks` giving the rows of each step (e.g.
 * `[T]`, `[5, 5, 2]`, or all ones after a first prefill), and returns the logits of every
 * position `[T, vocab]` (from global rank 0's last stage).
 */
export async function runRequest(
  ranks: RankModel[],
  layout: Layout,
  config: ModelConfig,
  tokens: readonly number[],
  chunks: readonly number[],
  blockSize = 4,
): Promise<Float32Array> {
  const v = config.vocabSize;
  const out = new Float32Array(tokens.length * v);
  const vblock = blockSize * layout.dcp;
  const table = Array.from({ length: Math.ceil(tokens.length / vblock) }, (_, i) => (i * 7 + 3) % 64);
  let done = 0;
  for (const q of chunks) {
    const positions = Array.from({ length: q }, (_, i) => done + i);
    const ids = tokens.slice(done, done + q);
    const results = await Promise.all(
      ranks.map(async (r) => {
        const slots = slotMapping(positions, table, {
          dcp: layout.dcp,
          dcpRank: r.dcpRank,
          interleave: layout.interleave ?? 1,
          blockSize,
        });
        const batch = {
          tokenIds: ids,
          positions,
          queryLens: [q],
          computedLens: [done],
          blockTables: [table],
          slotMapping: slots,
          logitRows: Array.from({ length: q }, (_, i) => i),
          hidden: undefined as Tensor | undefined,
        };
        const b = r.model.backend;
        const h = config.hiddenSize;
        if (!r.shard.isFirstStage) {
          const buf = await r.pp!.recv(new Float32Array(q * h), r.pp!.rank - 1);
          batch.hidden = b.upload(buf as Float32Array, [q, h], 'f32');
        }
        const res = await r.model.forward(batch);
        if (res.hidden) {
          await r.pp!.send(
            (await b.download(res.hidden)) as Float32Array,
            (r.pp as unknown as { rank: number }).rank + 1,
          );
          b.dispose(res.hidden);
          return null;
        }
        const logits = (await b.download(res.logits!)) as Float32Array;
        b.dispose(res.logits!);
        return logits;
      }),
    );
    const first = results.find((x) => x !== null)!;
    out.set(first, done * v);
    // every rank of the last stage must agree
    for (const x of results)
      if (x?.some((y, i) => y !== first[i])) throw new Error('ranks disagree on logits');
    done += q;
  }
  return out;
}

/** max |a − ref| / max |ref| over each position (row of `cols`), the worst row. */
export function worstRelError(a: ArrayLike<number>, ref: ArrayLike<number>, cols: number): number {
  let worst = 0;
  for (let r = 0; r < ref.length / cols; r++) {
    let d = 0;
    let m = 0;
    for (let c = 0; c < cols; c++) {
      d = Math.max(d, Math.abs(a[r * cols + c]! - ref[r * cols + c]!));
      m = Math.max(m, Math.abs(ref[r * cols + c]!));
    }
    worst = Math.max(worst, d / m);
  }
  return worst;
}
