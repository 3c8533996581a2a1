/**
 * `@dcp/engine/web`: the engine in a browser. The page runs `createWebEngine` (scheduler, KV
 * manager, tokenizer, one dedicated Web Worker per rank); each rank's worker script calls
 * `runWebRank()`. Platform-neutral code only: no Node built-ins.
 */

export type { RankSpec } from '../runner/build-rank.js';
export { buildWebRank } from './build-rank.js';
export {
  type CreatedWebEngine,
  type CreateWebEngineOptions,
  CrossOriginIsolationError,
  createWebEngine,
} from './create-web-engine.js';
export type { WebWorkerConstructor, WebWorkerLike, WorkerScopeLike } from './dom.js';
export { DEFAULT_WEB_KV_BYTES, floatDtype, type KvPlan, planKvCache } from './kv-plan.js';
export type { WebDriverMessage, WebRankInit, WebWeights, WebWorkerMessage } from './protocol.js';
export { type RunWebRankOptions, runWebRank } from './rank.js';
export { resolveWebModel, type WebModel, WebModelError } from './resolve-web-model.js';
export { WebWorkerExecutor, type WebWorkerExecutorOptions } from './worker-executor.js';
