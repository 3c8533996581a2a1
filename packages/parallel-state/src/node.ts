export { ThreadCommunicator, threadGroupsFor } from './thread-comm.js';
export {
  allGroups,
  createThreadCommState,
  type ExitEmitter,
  rankExitCode,
  reportRankExit,
  type ThreadCommOptions,
  type ThreadCommState,
  type ThreadGroupState,
  watchWorkers,
} from './thread-state.js';
