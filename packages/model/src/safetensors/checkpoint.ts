import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TensorBytes, TensorData } from './decode.js';
import { SafetensorsError } from './errors.js';
import {
  type OpenOptions,
  openSafetensors,
  type ReadOptions,
  type SafetensorsFile,
  type TensorReader,
} from './file.js';
import type { TensorInfo } from './header.js';
import type { SliceOptions } from './slice.js';

/** Name of the index of a sharded checkpoint. */
export const INDEX_FILE = 'model.safetensors.index.json';
/** Name of a single-file checkpoint. */
export const SINGLE_FILE = 'model.safetensors';
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** The weights of a Hugging Face checkpoint folder: one file or shards listed by an index. */
export interface Checkpoint extends TensorReader {
  readonly dir: string;
  /** The open files, in index order. */
  readonly files: readonly SafetensorsFile[];
  /** Which file holds a tensor. */
  fileOf(name: string): SafetensorsFile;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The shard file of each tensor, from a `model.safetensors.index.json`, validated. */
export async function readIndex(path: string): Promise<Map<string, string>> {
  const { size } = await stat(path);
  if (size > MAX_INDEX_BYTES)
    throw new SafetensorsError(path, `index is ${size} bytes, over ${MAX_INDEX_BYTES}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new SafetensorsError(path, `index is not valid JSON (${(e as Error).message})`);
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new SafetensorsError(path, 'index has no weight_map object');
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file === '' || basename(file) !== file || file === '..' || file === '.') {
      throw new SafetensorsError(
        path,
        `weight_map entry ${JSON.stringify(file)} is not a file name in this folder`,
        name,
      );
    }
    out.set(name, file);
  }
  return out;
}

/**
 * Opens the weights of a Hugging Face checkpoint folder: `model.safetensors.index.json` and the
 * shards it lists, or else `model.safetensors`. Only headers are read here; every tensor the index
 * names must be in its shard.
 */
export async function openCheckpoint(dir: string, opts: OpenOptions = {}): Promise<Checkpoint> {
  const indexPath = join(dir, INDEX_FILE);
  const files: SafetensorsFile[] = [];
  const where = new Map<string, SafetensorsFile>();
  try {
    if (await exists(indexPath)) {
      const index = await readIndex(indexPath);
      const byName = new Map<string, SafetensorsFile>();
      for (const f of new Set(index.values())) {
        const file = await openSafetensors(join(dir, f), opts);
        files.push(file);
        byName.set(f, file);
      }
      for (const [name, f] of index) {
        const file = byName.get(f)!;
        if (!file.has(name))
          throw new SafetensorsError(file.path, `tensor listed in ${INDEX_FILE} is missing`, name);
        where.set(name, file);
      }
    } else if (await exists(join(dir, SINGLE_FILE))) {
      const file = await openSafetensors(join(dir, SINGLE_FILE), opts);
      files.push(file);
      for (const name of file.names) where.set(name, file);
    } else {
      throw new SafetensorsError(dir, `neither ${INDEX_FILE} nor ${SINGLE_FILE} is in this folder`);
    }
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
  const fileOf = (name: string): SafetensorsFile => {
    const f = where.get(name);
    if (!f) throw new SafetensorsError(dir, 'no such tensor in the checkpoint', name);
    return f;
  };
  const stats = {
    get bytesRead() {
      return files.reduce((a, f) => a + f.stats.bytesRead, 0);
    },
    get reads() {
      return files.reduce((a, f) => a + f.stats.reads, 0);
    },
  };
  return {
    dir,
    files,
    names: [...where.keys()],
    stats,
    fileOf,
    has: (name) => where.has(name),
    info: (name): TensorInfo => fileOf(name).info(name),
    readTensor: async (name: string, ro?: ReadOptions): Promise<TensorData> =>
      fileOf(name).readTensor(name, ro),
    readF32: async (name: string, so?: SliceOptions): Promise<Float32Array> => fileOf(name).readF32(name, so),
    readBytes: async (name: string, so?: SliceOptions): Promise<TensorBytes> =>
      fileOf(name).readBytes(name, so),
    async close() {
      await Promise.all(files.map((f) => f.close()));
    },
  };
}
