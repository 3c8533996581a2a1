import type { AsyncLLM, TextTokenizer } from '@dcp/engine';
import type { Metrics } from './metrics.js';

/** What the HTTP layer needs from the rest of the server. */
export interface ServerContext {
  llm: AsyncLLM;
  /** Null when the model folder has no tokenizer (token-id prompts only). */
  tokenizer: TextTokenizer | null;
  /** Names clients may use in `model`; the first is reported by `/v1/models`. */
  servedModelNames: string[];
  /** Longest prompt + completion. */
  maxModelLen: number;
  /** Required bearer token on `/v1/*`, or null. */
  apiKey: string | null;
  /** Longest prompt text logged per request (characters); 0 logs none. */
  maxLogLen: number;
  /** dcp's version, for `/version`. */
  version: string;
  metrics: Metrics;
  /** HTTP requests on `/v1/*` whose response is not finished yet (for graceful shutdown). */
  active?: { count: number };
}
