import type { EngineConfig, ModelConfig } from '@dcp/config';
import type { Topology } from '@dcp/parallel-state';
import { type KvPlan, planKvCache as planEngineKvCache } from '../kv-plan.js';

export { floatDtype, type KvPlan } from '../kv-plan.js';

/** KV memory per rank when the config gives neither KV flag (a tab shares the machine). */
export const DEFAULT_WEB_KV_BYTES = 64 * 1024 * 1024;

/**
 * Sizes the KV cache as the Node engine does (the engine's one `planKvCache`), with the web
 * default of `defaultBytes` per rank and errors naming the config fields.
 */
export function planKvCache(
  config: EngineConfig,
  modelConfig: ModelConfig,
  topology: Topology,
  defaultBytes = DEFAULT_WEB_KV_BYTES,
): KvPlan {
  return planEngineKvCache(config, modelConfig, topology, { defaultBytes, names: 'fields' });
}
