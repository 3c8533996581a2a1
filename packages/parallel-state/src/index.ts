export type * from './communicator.js';
export { CommunicatorError, TokenLayoutError, TopologyError } from './errors.js';
export { bf16ToNumber, f16ToNumber, type HalfFormat, numberToBf16, numberToF16 } from './half.js';
export { createLocalCommunicators, type LocalCommOptions } from './local.js';
export { createLocalGroups, type RankGroups } from './local-groups.js';
export { type HostDType, hostDType } from './tensor.js';
// The shared-memory communicators are platform-neutral (SharedArrayBuffer + Atomics.waitAsync):
// ranks may be Node worker threads (the `node` entry adds `watchWorkers`) or browser Web Workers
// on a cross-origin-isolated page.
export { ThreadCommunicator, threadGroupsFor } from './thread-comm.js';
export {
  createThreadCommState,
  rankExitCode,
  reportRankExit,
  type ThreadCommOptions,
  type ThreadCommState,
  type ThreadGroupState,
} from './thread-state.js';
export {
  type DcpRankShard,
  type DcpShard,
  expandQueryBounds,
  globalToLocal,
  localQueryBounds,
  localSeqLen,
  localSeqLens,
  localSeqLensAllRanks,
  localToGlobal,
  ownerOf,
  type SlotMappingOptions,
  slotMapping,
} from './token-layout.js';
export {
  dcpHeadRange,
  headRange,
  layerRange,
  makeTopology,
  type Range,
  type RankInfo,
  type Topology,
  type TopologyInput,
} from './topology.js';
