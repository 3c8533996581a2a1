import type { Communicator, HostArray } from './communicator.js';
import { createLocalCommunicators, type LocalCommOptions } from './local.js';
import type { Topology } from './topology.js';

/** The communicators one rank uses: the world and its TP, DCP and PP groups. */
export interface RankGroups<C = Communicator<HostArray>> {
  world: C;
  tp: C;
  dcp: C;
  pp: C;
}

/**
 * In-process communicators for every rank of a topology: `result[rank]` holds that rank's world,
 * TP, DCP and PP group members (ranks inside each group ordered as in the topology's tables).
 */
export function createLocalGroups(topology: Topology, options: LocalCommOptions = {}): RankGroups[] {
  const base = options.name ?? 'local';
  const world = createLocalCommunicators(topology.worldSize, { ...options, name: `${base}/world` });
  const build = (kind: string, groups: number[][]) => {
    const byRank = new Map<number, Communicator<HostArray>>();
    groups.forEach((g, gi) => {
      const members = createLocalCommunicators(g.length, { ...options, name: `${base}/${kind}${gi}` });
      g.forEach((rank, k) => {
        byRank.set(rank, members[k]!);
      });
    });
    return byRank;
  };
  const tp = build('tp', topology.tpGroups);
  const dcp = build('dcp', topology.dcpGroups);
  const pp = build('pp', topology.ppGroups);
  return topology.ranks.map(({ rank }) => ({
    world: world[rank]!,
    tp: tp.get(rank)!,
    dcp: dcp.get(rank)!,
    pp: pp.get(rank)!,
  }));
}
