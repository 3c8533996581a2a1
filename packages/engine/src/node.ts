export { ThreadExecutor, type ThreadExecutorOptions } from './executor/thread-executor.js';
export { type RankRunner, runWorkerLoop } from './executor/worker-loop.js';
export {
  type CreatedEngine,
  type CreateEngineOptions,
  createEngine,
  DEFAULT_CPU_KV_BYTES,
} from './node/create-engine.js';
export { ModelNotFoundError, type ResolvedModel, resolveModel } from './node/resolve-model.js';
