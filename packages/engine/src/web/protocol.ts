/**
 * Messages between the page and its rank workers, on top of the engine's step protocol
 * (`DriverMessage`, `WorkerMessage`): Web Workers have no `workerData`, so the page first posts
 * each rank its `WebRankInit`, and a rank acknowledges a shutdown before it closes itself (a
 * Web Worker has no exit event).
 */
import type { DriverMessage, WorkerMessage } from '../executor/protocol.js';
import type { RankSpec } from '../runner/build-rank.js';

/** Where a rank's weights come from. */
export type WebWeights =
  | { kind: 'dummy'; seed: number }
  /** A Hugging Face folder served over HTTP: safetensors fetched with Range requests. */
  | { kind: 'safetensors'; url: string };

/** Everything one rank needs to build itself (structured-cloneable; the comm state is shared memory). */
export interface WebRankInit extends RankSpec {
  type: 'init';
  /** The parsed `config.json` of the model, as fetched. */
  hfConfig: Record<string, unknown>;
  weights: WebWeights;
  /** Let `webgpu-mla` run on a software adapter (SwiftShader). */
  allowSoftwareGpu: boolean;
}

/** What the page posts to a rank. */
export type WebDriverMessage = WebRankInit | DriverMessage;

/** What a rank posts to the page. */
export type WebWorkerMessage = WorkerMessage | { type: 'closed'; rank: number };
