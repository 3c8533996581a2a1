/**
 * The DCP merge (spec §4.3–4.4): every rank holds a partial decode output over its local KV and
 * its LSE for all `H = W·Hl` gathered heads; afterwards each rank holds the exact attention
 * output of its own `Hl` heads. All communication lives here; the backend supplies the local
 * kernels (`lseCorrect`, `lsePack`, `lseCombineA2a`).
 */
import type { Communicator } from '@dcp/parallel-state';
import type { AttentionBackend } from './descriptor.js';
import type { Tensor } from './tensor.js';

/** Options of `lseCombine`. */
export interface LseCombineOptions {
  /** `'ag_rs'`: all-gather LSE, correct, reduce-scatter over heads. `'a2a'`: one all-to-all, then combine. Default `'ag_rs'`. */
  mode?: 'ag_rs' | 'a2a';
  /** Also return the global LSE of this rank's heads (natural log). Default false. */
  returnLse?: boolean;
}

/** Result of `lseCombine`: fresh tensors the caller owns. */
export interface LseCombineResult<T extends Tensor> {
  /** `[B, Hl, D]`: exact attention output of this rank's heads. */
  out: T;
  /** `[B, Hl]` f32, natural log, when `returnLse`; else null. */
  lse: T | null;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(`lseCombine: ${msg}`);
}

/**
 * Merges partial decode results across the DCP group `comm` (size W, this rank `comm.rank`).
 * `out` `[B, H, D]` and `lse` `[B, H]` (f32, in the backend's `decodeLseBase`) are this rank's
 * partials over its local KV for all `H` heads (rank-major: rank r's own heads are
 * `[r·H/W, (r+1)·H/W)`). An empty shard must have LSE −inf (its output may be anything, even
 * NaN). `out` is modified in place by `'ag_rs'`. With W = 1 the input is returned as is (the LSE
 * converted to natural log when the backend's base is 2).
 */
export async function lseCombine<T extends Tensor, B>(
  backend: AttentionBackend<T, B>,
  comm: Communicator<B>,
  out: T,
  lse: T,
  o: LseCombineOptions = {},
): Promise<LseCombineResult<T>> {
  const mode = o.mode ?? 'ag_rs';
  const base = backend.capabilities.decodeLseBase;
  check(out.shape.length === 3, `out must be [B, H, D], got [${out.shape.join(', ')}]`);
  const [b, h, d] = out.shape as [number, number, number];
  check(
    lse.shape.length === 2 && lse.shape[0] === b && lse.shape[1] === h,
    `lse must be [${b}, ${h}], got [${lse.shape.join(', ')}]`,
  );
  check(lse.dtype === 'f32', `lse must be f32, got ${lse.dtype}`);
  check(mode === 'ag_rs' || mode === 'a2a', `mode must be 'ag_rs' or 'a2a', got '${String(mode)}'`);
  const w = comm.size;
  const r = comm.rank;
  check(h % w === 0, `H=${h} must be divisible by the DCP world size ${w}`);
  const hl = h / w;

  if (w === 1 && (base === 'e' || !o.returnLse)) return { out, lse: o.returnLse ? lse : null };

  if (mode === 'ag_rs' || w === 1) {
    const gathered = await comm.allGather(backend.commBuffer(lse), [b, h], 0);
    const lses = backend.fromCommBuffer(gathered, [w, b, h], 'f32');
    const globalLse = o.returnLse ? backend.alloc([b, h], 'f32') : null;
    backend.lseCorrect(out, lses, r, base, globalLse);
    backend.dispose(lses);
    let merged: T = out;
    if (w > 1) {
      const scattered = await comm.reduceScatter(backend.commBuffer(out), [b, h, d], 1, 'sum');
      merged = backend.fromCommBuffer(scattered, [b, hl, d], out.dtype);
    }
    let mine: T | null = null;
    if (globalLse) {
      mine = backend.alloc([b, hl], 'f32');
      backend.copyColumns(globalLse, r * hl, mine, 0, hl);
      backend.dispose(globalLse);
    }
    return { out: merged, lse: mine };
  }

  const lanes = out.dtype === 'f32' ? 1 : 2;
  const packed = backend.alloc([b, h, d + lanes], out.dtype);
  backend.lsePack(out, lse, packed);
  const received = await comm.allToAll(backend.commBuffer(packed), [b, h, d + lanes], 1);
  backend.dispose(packed);
  const parts = backend.fromCommBuffer(received, [b, w, hl, d + lanes], out.dtype);
  const merged = backend.alloc([b, hl, d], out.dtype);
  const mine = o.returnLse ? backend.alloc([b, hl], 'f32') : null;
  backend.lseCombineA2a(parts, base, merged, mine);
  backend.dispose(parts);
  return { out: merged, lse: mine };
}
