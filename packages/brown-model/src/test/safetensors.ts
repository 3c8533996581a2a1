// A minimal safetensors reader for the tests (independent of @dcp/model): the header, and bf16/f32
// tensors decoded to float64.
import { readFileSync } from 'node:fs';

export interface TensorInfo {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface SafetensorsFile {
  header: Record<string, TensorInfo>;
  metadata: Record<string, string> | undefined;
  /** Byte offset of the data section in the file. */
  dataStart: number;
  bytes: Buffer;
}

export function readSafetensors(path: string): SafetensorsFile {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const parsed = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const { __metadata__, ...header } = parsed;
  return {
    header: header as Record<string, TensorInfo>,
    metadata: __metadata__ as Record<string, string> | undefined,
    dataStart: 8 + n,
    bytes,
  };
}

/** A tensor as float64 (bf16: the 16 stored bits are the top half of a float32). */
export function tensor(f: SafetensorsFile, name: string): Float64Array {
  const info = f.header[name];
  if (!info) throw new Error(`no tensor ${name}`);
  const [a, b] = info.data_offsets;
  const raw = f.bytes.subarray(f.dataStart + a, f.dataStart + b);
  const out = new Float64Array(info.shape.reduce((x, y) => x * y, 1));
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  if (info.dtype === 'BF16') {
    for (let i = 0; i < out.length; i++) {
      u32[0] = raw.readUInt16LE(2 * i) << 16;
      out[i] = f32[0] as number;
    }
  } else if (info.dtype === 'F32') {
    for (let i = 0; i < out.length; i++) out[i] = raw.readFloatLE(4 * i);
  } else throw new Error(`dtype ${info.dtype} not handled`);
  return out;
}
