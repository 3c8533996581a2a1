import { type ModelConfig, parseHfModelConfig } from '@dcp/config';
import type { WebWeights } from './protocol.js';

/** A Hugging Face model folder on the web, ready to load. */
export interface WebModel {
  /** The folder URL (ends with `/`). */
  url: string;
  /** `config.json` as fetched, and parsed. */
  hfConfig: Record<string, unknown>;
  modelConfig: ModelConfig;
  weights: WebWeights;
  /** `tokenizer.json` and `tokenizer_config.json`, or null when the folder has none (or they were not asked for). */
  tokenizer: { json: object; config: Record<string, unknown> } | null;
  notices: string[];
}

/** A model folder URL that does not serve what the engine needs. */
export class WebModelError extends Error {
  override name = 'WebModelError';
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(`${url}: ${message}`);
  }
}

async function getJson(get: typeof fetch, url: URL, optional: boolean): Promise<unknown> {
  let res: Response;
  try {
    res = await get(url);
  } catch (e) {
    throw new WebModelError(url.href, `fetch failed (${(e as Error).message})`);
  }
  if (res.status === 404 && optional) return undefined;
  if (!res.ok) throw new WebModelError(url.href, `HTTP ${res.status} ${res.statusText}`.trim());
  try {
    return await res.json();
  } catch (e) {
    throw new WebModelError(url.href, `not valid JSON (${(e as Error).message})`);
  }
}

/** Whether the folder serves safetensors (an index, or `model.safetensors`; only its first byte is asked for). */
async function hasSafetensors(get: typeof fetch, base: URL): Promise<boolean> {
  for (const [name, init] of [
    ['model.safetensors.index.json', {}],
    ['model.safetensors', { headers: { Range: 'bytes=0-0' } }],
  ] as const) {
    const res = await get(new URL(name, base), init).catch(() => null);
    await res?.body?.cancel();
    if (res?.ok) return true;
  }
  return false;
}

/**
 * Fetches what the page needs of a model folder at `url` (relative URLs resolve against the
 * page): `config.json`, the tokenizer files (unless `withTokenizer` is false), and whether
 * safetensors are there. `loadFormat` `auto` loads them when present and dummy weights (seeded)
 * otherwise, with a notice; `safetensors` requires them.
 */
export async function resolveWebModel(
  url: string | URL,
  o: {
    loadFormat: 'auto' | 'safetensors' | 'dummy';
    seed: number;
    withTokenizer?: boolean;
    fetch?: typeof fetch;
  },
): Promise<WebModel> {
  const page = (globalThis as { location?: { href?: string } }).location?.href;
  let base: URL;
  try {
    const s = String(url);
    base = new URL(s.endsWith('/') ? s : `${s}/`, page);
  } catch {
    throw new WebModelError(String(url), 'model: not a URL (give the folder of config.json)');
  }
  const get = o.fetch ?? globalThis.fetch.bind(globalThis);
  const hfConfig = (await getJson(get, new URL('config.json', base), false)) as Record<string, unknown>;
  const modelConfig = parseHfModelConfig(hfConfig, new URL('config.json', base).href);
  const notices: string[] = [];
  let weights: WebWeights;
  if (o.loadFormat === 'dummy') weights = { kind: 'dummy', seed: o.seed };
  else if (await hasSafetensors(get, base)) weights = { kind: 'safetensors', url: base.href };
  else if (o.loadFormat === 'safetensors') {
    throw new WebModelError(
      base.href,
      'load format safetensors: neither model.safetensors.index.json nor model.safetensors is served',
    );
  } else {
    weights = { kind: 'dummy', seed: o.seed };
    notices.push(`${base.href} has no weights: using deterministic dummy weights (seed ${o.seed})`);
  }
  let tokenizer: WebModel['tokenizer'] = null;
  if (o.withTokenizer !== false) {
    const json = await getJson(get, new URL('tokenizer.json', base), true);
    if (json !== undefined) {
      const config = await getJson(get, new URL('tokenizer_config.json', base), true);
      tokenizer = { json: json as object, config: (config ?? {}) as Record<string, unknown> };
    }
  }
  return { url: base.href, hfConfig, modelConfig, weights, tokenizer, notices };
}
