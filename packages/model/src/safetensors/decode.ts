import { bf16BitsToF32, f16BitsToF32, type SafetensorsDtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';

/** Values of a tensor (or of a slice of it) as read from a file. */
export interface TensorData {
  name: string;
  dtype: SafetensorsDtype;
  /** Shape of what was read (the slice's shape). */
  shape: number[];
  /** F32/F16/BF16/F64 as f32 (F64 rounded); I32 as Int32Array; I64 as BigInt64Array. */
  data: Float32Array | Int32Array | BigInt64Array;
  /** The raw bit patterns of an F16 or BF16 tensor, when `raw: true` was asked. */
  raw?: Uint16Array;
}

/** Raw little-endian bytes of a tensor slice, any dtype. */
export interface TensorBytes {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Typed values of freshly read bytes (`bytes` starts at offset 0 of its own buffer). */
export function decodeTensor(file: string, t: TensorBytes, keepRaw: boolean): TensorData {
  if (!littleEndian) throw new SafetensorsError(file, 'big-endian hosts are not supported', t.name);
  const { bytes, dtype, name, shape } = t;
  const n = bytes.byteLength;
  switch (dtype) {
    case 'F32':
      return { name, dtype, shape, data: new Float32Array(bytes.buffer, 0, n / 4) };
    case 'F64':
      return { name, dtype, shape, data: Float32Array.from(new Float64Array(bytes.buffer, 0, n / 8)) };
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(bytes.buffer, 0, n / 2);
      const data = dtype === 'F16' ? f16BitsToF32(bits) : bf16BitsToF32(bits);
      return keepRaw ? { name, dtype, shape, data, raw: bits } : { name, dtype, shape, data };
    }
    case 'I32':
      return { name, dtype, shape, data: new Int32Array(bytes.buffer, 0, n / 4) };
    case 'I64':
      return { name, dtype, shape, data: new BigInt64Array(bytes.buffer, 0, n / 8) };
    default:
      throw new SafetensorsError(
        file,
        `reading dtype ${dtype} as values is not supported (use readBytes)`,
        name,
      );
  }
}
