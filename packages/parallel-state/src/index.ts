export type * from './communicator.js';
export { CommunicatorError, TokenLayoutError, TopologyError } from './errors.js';
export { bf16ToNumber, f16ToNumber, type HalfFormat, numberToBf16, numberToF16 } from './half.js';
export { createLocalCommunicators, type LocalCommOptions } from './local.js';
export { createLocalGroups, type RankGroups } from './local-groups.js';
export { type HostDType, hostDType } from './tensor.js';
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
