import { DTYPE_BYTES, isDtype, type SafetensorsDtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** Where one tensor lives in a safetensors file. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets `[begin, end)` relative to the start of the data section. */
  dataOffsets: [number, number];
  /** Absolute byte offset of the tensor's first byte in the file. */
  fileOffset: number;
  /** Number of elements (product of `shape`; 1 for a scalar). */
  numel: number;
}

/** A parsed, validated safetensors header. */
export interface SafetensorsHeader {
  /** The file it came from (for messages). */
  file: string;
  /** Length of the JSON header in bytes (the u64 at the start of the file). */
  headerLength: number;
  /** Absolute offset of the data section: 8 + headerLength. */
  dataStart: number;
  /** Size of the data section the file holds: fileSize − dataStart. */
  dataSize: number;
  /** Tensors by name, in header order. */
  tensors: Map<string, TensorInfo>;
  /** The optional `__metadata__` string map. */
  metadata: Record<string, string>;
}

/** Largest JSON header accepted unless the caller says otherwise (100 MiB). */
export const DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * The JSON header length stored in the first 8 bytes, checked against the file size and `maxHeaderBytes`
 * before anything is allocated for it.
 */
export function checkHeaderLength(
  file: string,
  prefix: Uint8Array,
  fileSize: number,
  maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES,
): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(file, `file is ${fileSize} bytes, too small for the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError(file, `header length ${n} is over the limit of ${maxHeaderBytes} bytes`);
  }
  if (n + 8n > BigInt(fileSize)) {
    throw new SafetensorsError(file, `header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  if (n < 2n) throw new SafetensorsError(file, `header length ${n} is too small for a JSON object`);
  return Number(n);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkIndex(file: string, name: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new SafetensorsError(
      file,
      `${what} must be a non-negative integer, got ${JSON.stringify(v)}`,
      name,
    );
  }
  return v;
}

function parseTensor(file: string, name: string, raw: unknown, dataStart: number): TensorInfo {
  if (!isPlainObject(raw)) throw new SafetensorsError(file, 'entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !isDtype(dtype)) {
    throw new SafetensorsError(file, `unknown dtype ${JSON.stringify(dtype)}`, name);
  }
  if (!Array.isArray(shape)) throw new SafetensorsError(file, 'shape is not an array', name);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsError(file, 'data_offsets must be an array [begin, end]', name);
  }
  const dims = shape.map((d, i) => checkIndex(file, name, `shape[${i}]`, d));
  let numel = 1;
  for (const d of dims) {
    numel *= d;
    if (!Number.isSafeInteger(numel)) throw new SafetensorsError(file, `shape [${dims}] is too large`, name);
  }
  const begin = checkIndex(file, name, 'data_offsets[0]', offsets[0]);
  const end = checkIndex(file, name, 'data_offsets[1]', offsets[1]);
  if (end < begin)
    throw new SafetensorsError(file, `data_offsets [${begin}, ${end}] end before they begin`, name);
  const want = numel * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(want) || end - begin !== want) {
    throw new SafetensorsError(
      file,
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype}[${dims}] needs ${want}`,
      name,
    );
  }
  return { name, dtype, shape: dims, dataOffsets: [begin, end], fileOffset: dataStart + begin, numel };
}

/**
 * Parses and validates the JSON header `json` (the bytes after the length) of a file of `fileSize`
 * bytes: valid UTF-8 JSON object, known dtypes, non-negative integer dims, offsets that match the
 * dtype size, lie inside the file and do not overlap.
 */
export function parseHeader(file: string, json: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = json.length;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new SafetensorsError(file, 'header is not a JSON object');
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) throw new SafetensorsError(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = parseTensor(file, name, raw, dataStart);
    if (info.dataOffsets[1] > dataSize) {
      throw new SafetensorsError(
        file,
        `data_offsets [${info.dataOffsets}] run past the end of the data (${dataSize} bytes): truncated or corrupt file`,
        name,
      );
    }
    tensors.set(name, info);
  }
  const byStart = [...tensors.values()]
    .filter((t) => t.numel > 0)
    .sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      throw new SafetensorsError(
        file,
        `overlaps ${prev.name} (data_offsets [${cur.dataOffsets}] vs [${prev.dataOffsets}])`,
        cur.name,
      );
    }
  }
  return { file, headerLength, dataStart, dataSize, tensors, metadata };
}
