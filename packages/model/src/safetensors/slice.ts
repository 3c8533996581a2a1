import { SafetensorsError } from './errors.js';
import type { TensorInfo } from './header.js';

/** `[start, end)` along one dimension; `null` (or a missing entry) means the whole dimension. */
export type DimRange = readonly [number, number] | null;

/** Which part of a tensor to read. Give at most one of `slice`, `rows`, `cols`, `range`; none reads it whole. */
export interface SliceOptions {
  /** Per-dimension ranges; missing trailing entries are whole dimensions. */
  slice?: readonly DimRange[];
  /** Rows `[start, end)` of dimension 0 (column-parallel weights, vocab shards). */
  rows?: readonly [number, number];
  /** `[start, end)` of the last dimension (row-parallel weights). */
  cols?: readonly [number, number];
  /** `[start, end)` of dimension `dim`; `dim: null` reads the whole tensor (the shape of `@dcp/model`'s ShardSlice). */
  range?: { readonly dim: number | null; readonly start: number; readonly end: number };
}

/** One positional read: `length` bytes at file offset `fileOffset` into output byte `outOffset`. */
export interface ByteRun {
  fileOffset: number;
  length: number;
  outOffset: number;
}

/** The per-dimension `[start, end)` ranges `opts` asks for, checked against the tensor's shape. */
export function resolveSlice(
  file: string,
  info: TensorInfo,
  opts: SliceOptions = {},
): Array<[number, number]> {
  const { shape, name } = info;
  const given = [opts.slice, opts.rows, opts.cols, opts.range].filter((x) => x !== undefined).length;
  if (given > 1) throw new SafetensorsError(file, 'give at most one of slice, rows, cols, range', name);
  let per: readonly DimRange[] = [];
  if (opts.slice) per = opts.slice;
  else if (opts.rows) per = [opts.rows];
  else if (opts.cols) {
    if (shape.length === 0) throw new SafetensorsError(file, 'cols given for a scalar', name);
    per = [...Array<DimRange>(shape.length - 1).fill(null), opts.cols];
  } else if (opts.range && opts.range.dim !== null) {
    const { dim, start, end } = opts.range;
    if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length) {
      throw new SafetensorsError(file, `range.dim ${dim} is not a dimension of shape [${shape}]`, name);
    }
    per = shape.map((_, d) => (d === dim ? [start, end] : null));
  }
  if (per.length > shape.length) {
    throw new SafetensorsError(
      file,
      `slice has ${per.length} ranges for a rank-${shape.length} tensor`,
      name,
    );
  }
  return shape.map((size, d): [number, number] => {
    const r = per[d];
    if (r === null || r === undefined) return [0, size];
    const [start, end] = r;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > size) {
      throw new SafetensorsError(
        file,
        `slice [${start}, ${end}) of dimension ${d} is outside [0, ${size}]`,
        name,
      );
    }
    return [start, end];
  });
}

/**
 * The positional reads that fetch `ranges` of a row-major tensor of `shape` whose first byte is at
 * `fileOffset`: one run per index of the outer dimensions, each spanning every dimension from the
 * last partial one inwards. Touches only the requested bytes.
 */
export function byteRuns(
  shape: readonly number[],
  ranges: ReadonlyArray<readonly [number, number]>,
  elemBytes: number,
  fileOffset: number,
): { runs: ByteRun[]; outShape: number[]; outBytes: number } {
  const outShape = ranges.map(([s, e]) => e - s);
  const numel = outShape.reduce((a, b) => a * b, 1);
  const outBytes = numel * elemBytes;
  if (numel === 0) return { runs: [], outShape, outBytes: 0 };
  const strides = new Array<number>(shape.length);
  let acc = elemBytes;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d]!;
  }
  // j: the outermost dimension of the contiguous block (every dimension inside it is whole).
  let j = shape.length - 1;
  while (j >= 0 && ranges[j]![0] === 0 && ranges[j]![1] === shape[j]) j--;
  if (j < 0) return { runs: [{ fileOffset, length: outBytes, outOffset: 0 }], outShape, outBytes };
  const runLen = (ranges[j]![1] - ranges[j]![0]) * strides[j]!;
  const runs: ByteRun[] = [];
  const idx = ranges.slice(0, j).map(([s]) => s);
  let out = 0;
  for (;;) {
    let off = fileOffset + ranges[j]![0] * strides[j]!;
    for (let d = 0; d < j; d++) off += idx[d]! * strides[d]!;
    runs.push({ fileOffset: off, length: runLen, outOffset: out });
    out += runLen;
    let d = j - 1;
    while (d >= 0) {
      idx[d]!++;
      if (idx[d]! < ranges[d]![1]) break;
      idx[d] = ranges[d]![0];
      d--;
    }
    if (d < 0) break;
  }
  return { runs, outShape, outBytes };
}
