export { ThreadExecutor, type ThreadExecutorOptions } from './executor/thread-executor.js';
export { type RankRunner, runWorkerLoop } from './executor/worker-loop.js';
