import { TopologyError } from './errors.js';

/** Sizes of the parallel dimensions. `pp` and `dcp` default to 1. */
export interface TopologyInput {
  /** Tensor-parallel size (ranks per pipeline stage). */
  tp: number;
  /** Pipeline-parallel size (stages). */
  pp?: number;
  /** Decode-context-parallel size; splits each TP group, never adds ranks. Must divide `tp`. */
  dcp?: number;
}

/** Where one global rank sits in every group. */
export interface RankInfo {
  /** Global rank in `[0, worldSize)`; `rank = ppRank * tp + tpRank`. */
  rank: number;
  /** Index inside its TP group. */
  tpRank: number;
  /** Pipeline stage. */
  ppRank: number;
  /** Index inside its DCP group: `tpRank mod dcp`. */
  dcpRank: number;
  /** Index of its DCP group in `Topology.dcpGroups`. */
  dcpGroupIndex: number;
  /** Global ranks of its TP group, in TP-rank order. */
  tpGroup: number[];
  /** Global ranks of its PP group, in stage order. */
  ppGroup: number[];
  /** Global ranks of its DCP group, in DCP-rank order. */
  dcpGroup: number[];
}

/**
 * The rank layout of a (pp, tp, dcp) job as plain data. TP is the innermost dimension; each TP
 * group splits into `tp / dcp` DCP groups of `dcp` consecutive ranks (DCP reuses the TP ranks, so
 * `worldSize = pp * tp`).
 */
export interface Topology {
  worldSize: number;
  tp: number;
  pp: number;
  dcp: number;
  /** One per pipeline stage: `[s*tp, (s+1)*tp)`. */
  tpGroups: number[][];
  /** One per TP rank t: `[t, t+tp, t+2tp, ...]`. */
  ppGroups: number[][];
  /** Consecutive blocks of `dcp` global ranks (each inside one TP group). */
  dcpGroups: number[][];
  /** `ranks[r]` describes global rank r. */
  ranks: RankInfo[];
}

function positiveInt(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TopologyError(field, `must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/** Builds the group tables of a (tp, pp, dcp) layout; throws `TopologyError` naming the bad field. */
export function makeTopology(input: TopologyInput): Topology {
  const tp = positiveInt('tp', input.tp);
  const pp = positiveInt('pp', input.pp ?? 1);
  const dcp = positiveInt('dcp', input.dcp ?? 1);
  if (tp % dcp !== 0) {
    throw new TopologyError(
      'dcp',
      `decode-context-parallel size ${dcp} must divide tensor-parallel size ${tp} (DCP splits a TP group; it adds no ranks)`,
    );
  }
  const worldSize = tp * pp;
  const tpGroups = Array.from({ length: pp }, (_, s) => Array.from({ length: tp }, (_, t) => s * tp + t));
  const ppGroups = Array.from({ length: tp }, (_, t) => Array.from({ length: pp }, (_, s) => s * tp + t));
  const dcpGroups = Array.from({ length: worldSize / dcp }, (_, g) =>
    Array.from({ length: dcp }, (_, i) => g * dcp + i),
  );
  const ranks: RankInfo[] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    const tpRank = rank % tp;
    const ppRank = Math.floor(rank / tp);
    const dcpGroupIndex = Math.floor(rank / dcp);
    ranks.push({
      rank,
      tpRank,
      ppRank,
      dcpRank: tpRank % dcp,
      dcpGroupIndex,
      tpGroup: tpGroups[ppRank]!,
      ppGroup: ppGroups[tpRank]!,
      dcpGroup: dcpGroups[dcpGroupIndex]!,
    });
  }
  return { worldSize, tp, pp, dcp, tpGroups, ppGroups, dcpGroups, ranks };
}

function rankInfo(topology: Topology, rank: number): RankInfo {
  if (!Number.isInteger(rank) || rank < 0 || rank >= topology.worldSize) {
    throw new TopologyError('rank', `must be an integer in [0, ${topology.worldSize}), got ${String(rank)}`);
  }
  return topology.ranks[rank]!;
}

function headsPerRank(topology: Topology, numHeads: number): number {
  positiveInt('numHeads', numHeads);
  if (numHeads % topology.tp !== 0) {
    throw new TopologyError(
      'numHeads',
      `${numHeads} attention heads cannot be split evenly over tensor-parallel size ${topology.tp}`,
    );
  }
  return numHeads / topology.tp;
}

/** Half-open range `[start, end)`. */
export interface Range {
  start: number;
  end: number;
}

/** The attention heads a rank owns: TP rank t owns `[t*N, (t+1)*N)` with `N = numHeads / tp`. */
export function headRange(topology: Topology, rank: number, numHeads: number): Range {
  const n = headsPerRank(topology, numHeads);
  const { tpRank } = rankInfo(topology, rank);
  return { start: tpRank * n, end: (tpRank + 1) * n };
}

/**
 * The heads a rank's whole DCP group covers, `[g*dcp*N, (g+1)*dcp*N)` with `g = tpRank div dcp`:
 * after the head-dim all-gather over the DCP group, gathered head h is global head `start + h`.
 */
export function dcpHeadRange(topology: Topology, rank: number, numHeads: number): Range {
  const n = headsPerRank(topology, numHeads);
  const { tpRank } = rankInfo(topology, rank);
  const g = Math.floor(tpRank / topology.dcp);
  return { start: g * topology.dcp * n, end: (g + 1) * topology.dcp * n };
}

/**
 * The decoder layers of pipeline stage `ppRank`. Layers split as evenly as possible; when they do
 * not divide, the extra layers go to the stages just before the last one (which also carries the
 * LM head), walking backwards. Throws when a stage would get no layer.
 */
export function layerRange(numLayers: number, pp: number, ppRank: number): Range {
  positiveInt('numLayers', numLayers);
  positiveInt('pp', pp);
  if (!Number.isInteger(ppRank) || ppRank < 0 || ppRank >= pp) {
    throw new TopologyError('ppRank', `must be an integer in [0, ${pp}), got ${String(ppRank)}`);
  }
  if (numLayers < pp) {
    throw new TopologyError(
      'pp',
      `${pp} pipeline stages for ${numLayers} layers would leave a stage empty; use pp <= ${numLayers}`,
    );
  }
  const base = Math.floor(numLayers / pp);
  const extra = numLayers % pp;
  // Stage s gets one extra layer when it is among stages pp-2, pp-3, ..., pp-1-extra.
  const sizeOf = (s: number) => base + (s <= pp - 2 && s >= pp - 1 - extra ? 1 : 0);
  let start = 0;
  for (let s = 0; s < ppRank; s++) start += sizeOf(s);
  return { start, end: start + sizeOf(ppRank) };
}
