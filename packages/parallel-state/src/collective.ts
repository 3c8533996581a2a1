import type { HostArray, ReduceOp } from './communicator.js';
import { CommunicatorError } from './errors.js';
import type { HalfFormat } from './half.js';
import {
  accumulate,
  allocLike,
  checkOp,
  type DimSplit,
  finishAccumulator,
  forEachRow,
  type HostDType,
  hostDType,
  newAccumulator,
  splitAtDim,
} from './tensor.js';

/** The collectives every member enters together (send/recv are point-to-point). */
export type CollectiveKind =
  | 'allGather'
  | 'reduceScatter'
  | 'allReduce'
  | 'allToAll'
  | 'broadcast'
  | 'barrier';

/** One member's validated call: what it is, on what, and along which dimension. */
export interface CollectiveCall {
  kind: CollectiveKind;
  dtype: HostDType;
  length: number;
  shape: readonly number[];
  split: DimSplit;
  op: ReduceOp;
  root: number;
}

/**
 * Validates one member's arguments and describes the call (shape defaults to `[length]`; a
 * Uint16Array holds `half` values).
 */
export function describeCall(
  kind: CollectiveKind,
  size: number,
  input: HostArray | undefined,
  shape: readonly number[] | undefined,
  dim: number,
  op: ReduceOp = 'sum',
  root = 0,
  half: HalfFormat = 'bf16',
): CollectiveCall {
  const dtype = input === undefined ? 'f32' : hostDType(input, 'input', half);
  const length = input?.length ?? 0;
  const sh = shape ?? [length];
  const split = splitAtDim(length, sh, dim);
  checkOp(op);
  if ((kind === 'reduceScatter' || kind === 'allToAll') && split.d % size !== 0) {
    throw new CommunicatorError(
      `shape[${split.dim}]: ${kind} along dim ${split.dim} needs a size divisible by the group size ${size}, got ${split.d}`,
    );
  }
  if (kind === 'broadcast' && (!Number.isInteger(root) || root < 0 || root >= size)) {
    throw new CommunicatorError(`root: must be an integer in [0, ${size}), got ${String(root)}`);
  }
  return { kind, dtype, length, shape: [...sh], split, op, root };
}

/** Empty string when two members' calls agree, else what differs. */
export function callMismatch(a: CollectiveCall, b: CollectiveCall): string {
  if (a.kind !== b.kind) return `${a.kind} vs ${b.kind}`;
  if (a.kind === 'barrier') return '';
  if (a.dtype !== b.dtype) return `dtype ${a.dtype} vs ${b.dtype}`;
  if (a.shape.join(',') !== b.shape.join(','))
    return `shape [${a.shape.join(',')}] vs [${b.shape.join(',')}]`;
  if (a.split.dim !== b.split.dim) return `dim ${a.split.dim} vs ${b.split.dim}`;
  if (a.op !== b.op) return `op ${a.op} vs ${b.op}`;
  if (a.root !== b.root) return `root ${a.root} vs ${b.root}`;
  return '';
}

/** Whether member `m`'s input is read by anyone in this call (only the root's, for a broadcast). */
export function contributes(call: CollectiveCall, m: number): boolean {
  return call.kind !== 'barrier' && (call.kind !== 'broadcast' || m === call.root);
}

/**
 * Builds one member's result from pieces of every member's input. `take(m, chunk, start)` hands
 * it elements `[start, start + chunk.length)` of member m's flat input; for a given element the
 * members must come in rank order (so reductions are identical on every member).
 */
export class CollectiveReceiver {
  private readonly out: HostArray;
  private readonly acc: Float64Array | undefined;
  private readonly half: HalfFormat;

  constructor(
    private readonly call: CollectiveCall,
    private readonly size: number,
    private readonly rank: number,
    like: HostArray,
  ) {
    const { kind, length } = call;
    this.half = call.dtype === 'f16' ? 'f16' : 'bf16';
    if (kind === 'reduceScatter' || kind === 'allReduce') {
      this.acc = newAccumulator(kind === 'allReduce' ? length : length / size, call.op);
      this.out = allocLike(like, 0);
    } else {
      this.out = allocLike(like, kind === 'allGather' ? length * size : length);
    }
  }

  /**
   * Consumes elements `[start, start + chunk.length)` of member `m`'s input. A tensor
   * `[outer, d, inner]` is walked in contiguous rows: for an all-gather, row o is the slab
   * `(o, :, :)` of d·inner elements, which lands whole in output slab `(o, m·d .. (m+1)·d, :)`;
   * for a reduce-scatter or all-to-all with `c = d/size`, row q is `(⌊q/size⌋, j·c .. (j+1)·c, :)`
   * with `j = q mod size`, the piece destined to member j.
   */
  take(m: number, chunk: HostArray, start: number): void {
    const { call, size, rank, out } = this;
    const { d, inner } = call.split;
    switch (call.kind) {
      case 'allGather': {
        const slab = d * inner;
        forEachRow(start, chunk.length, slab, (o, x0, n, s) => {
          out.set(chunk.subarray(s, s + n), (o * size + m) * slab + x0);
        });
        break;
      }
      case 'reduceScatter': {
        const piece = (d / size) * inner;
        const acc = this.acc!;
        forEachRow(start, chunk.length, piece, (q, x0, n, s) => {
          if (q % size === rank)
            accumulate(acc, Math.floor(q / size) * piece + x0, chunk, s, n, call.op, this.half);
        });
        break;
      }
      case 'allReduce':
        accumulate(this.acc!, start, chunk, 0, chunk.length, call.op, this.half);
        break;
      case 'allToAll': {
        const piece = (d / size) * inner;
        forEachRow(start, chunk.length, piece, (q, x0, n, s) => {
          if (q % size === rank)
            out.set(chunk.subarray(s, s + n), (Math.floor(q / size) * size + m) * piece + x0);
        });
        break;
      }
      case 'broadcast':
        if (m === call.root) out.set(chunk, start);
        break;
      case 'barrier':
        break;
    }
  }

  /** The finished result (rounded to the input's dtype for reductions). */
  result(): HostArray {
    return this.acc ? finishAccumulator(this.acc, this.out, this.half) : this.out;
  }
}
