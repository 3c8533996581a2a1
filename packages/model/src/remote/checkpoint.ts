import { SafetensorsError } from '../safetensors/errors.js';
import type { TensorInfo } from '../safetensors/header.js';
import type { SliceOptions } from '../safetensors/slice.js';
import { type HttpByteSourceOptions, openHttpByteSource } from './byte-source.js';
import {
  openSafetensorsSource,
  type SafetensorsSource,
  type SourceReadOptions,
} from './safetensors-source.js';

/** The weights of a Hugging Face model folder served over HTTP: one file, or shards and an index. */
export interface RemoteCheckpoint {
  /** The folder URL. */
  readonly url: string;
  readonly files: readonly SafetensorsSource[];
  readonly names: readonly string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  fileOf(name: string): SafetensorsSource;
  readF32(name: string, opts?: SliceOptions): Promise<Float32Array>;
  /** Bytes fetched and requests made so far, over every file. */
  readonly stats: { bytesRead: number; reads: number };
}

/** Options of `openHttpCheckpoint`. */
export type HttpCheckpointOptions = HttpByteSourceOptions & SourceReadOptions;

/** The shard file of each tensor from the parsed `model.safetensors.index.json`, validated. */
export function parseWeightMap(label: string, parsed: unknown): Map<string, string> {
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new SafetensorsError(label, 'index has no weight_map object');
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || !/^[^/\\]+$/.test(file) || file === '..' || file === '.') {
      throw new SafetensorsError(
        label,
        `weight_map entry ${JSON.stringify(file)} is not a file name in this folder`,
        name,
      );
    }
    out.set(name, file);
  }
  return out;
}

/**
 * Opens the safetensors of a model folder at `url` (ending in `/`) over HTTP
 * (relative URLs resolve against `location`): `model.safetensors.index.json` and the shards it lists, or else `model.safetensors`. Only the
 * headers are fetched here; tensors are then fetched with `Range` requests, only the slices asked
 * for (what one rank of a TP group needs). Platform-neutral: browsers, workers, Node's `fetch`.
 */
export async function openHttpCheckpoint(
  url: string | URL,
  o: HttpCheckpointOptions = {},
): Promise<RemoteCheckpoint> {
  const s = String(url);
  // Relative URLs resolve against the page or worker script, as fetch would.
  const base = new URL(
    s.endsWith('/') ? s : `${s}/`,
    (globalThis as { location?: { href?: string } }).location?.href,
  );
  const get = o.fetch ?? globalThis.fetch;
  const indexUrl = new URL('model.safetensors.index.json', base);
  let res: Response;
  try {
    res = await get(indexUrl, o.headers ? { headers: o.headers } : {});
  } catch (e) {
    throw new SafetensorsError(indexUrl.href, `fetch failed (${(e as Error).message})`);
  }
  const where = new Map<string, SafetensorsSource>();
  const files: SafetensorsSource[] = [];
  if (res.ok) {
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (e) {
      throw new SafetensorsError(indexUrl.href, `index is not valid JSON (${(e as Error).message})`);
    }
    const index = parseWeightMap(indexUrl.href, parsed);
    const byFile = new Map<string, SafetensorsSource>();
    for (const f of new Set(index.values())) {
      const file = await openSafetensorsSource(await openHttpByteSource(new URL(f, base), o), o);
      byFile.set(f, file);
      files.push(file);
    }
    for (const [name, f] of index) {
      const file = byFile.get(f)!;
      if (!file.has(name))
        throw new SafetensorsError(file.label, 'tensor listed in the index is missing', name);
      where.set(name, file);
    }
  } else if (res.status === 404) {
    await res.body?.cancel();
    const file = await openSafetensorsSource(
      await openHttpByteSource(new URL('model.safetensors', base), o),
      o,
    );
    files.push(file);
    for (const name of file.names) where.set(name, file);
  } else {
    throw new SafetensorsError(indexUrl.href, `HTTP ${res.status} ${res.statusText}`.trim());
  }
  const fileOf = (name: string) => {
    const f = where.get(name);
    if (!f) throw new SafetensorsError(base.href, 'no such tensor in the checkpoint', name);
    return f;
  };
  return {
    url: base.href,
    files,
    names: [...where.keys()],
    has: (name) => where.has(name),
    info: (name) => fileOf(name).info(name),
    fileOf,
    readF32: (name, so) => fileOf(name).readF32(name, so),
    stats: {
      get bytesRead() {
        return files.reduce((a, f) => a + f.stats.bytesRead, 0);
      },
      get reads() {
        return files.reduce((a, f) => a + f.stats.reads, 0);
      },
    },
  };
}
