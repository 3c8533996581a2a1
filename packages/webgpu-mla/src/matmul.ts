/**
 * Matrix products for `linear`, `headMatmul` and the MoE experts: the tuning options and the
 * choice of kernel — `gemv.ts` for a few rows (memory bound on the weights), `gemm.ts`
 * (workgroup-memory tiles) for many rows or shapes GEMV cannot take.
 */
import { gemmKernel } from './gemm.js';
import { gemvKernel, gemvWordElems } from './gemv.js';
import type { KernelTexts, MatmulSpec } from './matmul-spec.js';
import { run } from './run.js';
import type { Owner } from './tensor.js';

/** How the backend picks and shapes its matmul kernels (per instance; the benchmark sweeps it). */
export interface MatmulOptions {
  /** Use the one-invocation-per-output kernels of before (a benchmark baseline). */
  naive: boolean;
  /**
   * `linear`/`headMatmul` with at most this many rows use GEMV (weights contiguous along `k`);
   * MoE uses GEMV tiles while it has at most 8 rows per expert on average.
   */
  gemvMaxRows: number;
  /** GEMV: invocations per workgroup (64, 128 or 256), all along `k`. */
  gemvThreads: number;
  /** GEMV: weight rows (outputs) per workgroup. */
  gemvRows: number;
  /** GEMV: words of each weight row an invocation loads per step (independent loads in flight). */
  gemvUnroll: number;
  /** GEMM: outputs per invocation along each dim, 4 (64×64 tiles) or 8 (128×128 tiles). */
  gemmThread: 4 | 8;
  /** Reduce GEMV partial sums with subgroup operations where the device has them. */
  subgroups: boolean;
}

/** What the matmul ops take: the options and the instance's generated-text memo. */
export interface MatmulState extends MatmulOptions {
  texts: KernelTexts;
}

/**
 * The defaults, from two runs of tooling/bench/src/webgpu-model.bench.ts on the H200: GEMV beat
 * the tiled kernel up to 32 rows; 128 invocations × 4 rows × no unroll was within the top three
 * of the sweep both times (the spread among the best is host noise: small ops are host bound).
 * On SwiftShader (Chromium's software adapter) the one-invocation-per-output kernels are the
 * default: there a decode step of the brown model took 4.5–6.4 s with the tuned kernels (their
 * workgroup barriers and subgroup reductions are emulated per invocation) and 0.54 s naive.
 */
export function defaultMatmulOptions(adapter?: { description: string; architecture: string }): MatmulOptions {
  const swiftShader =
    adapter !== undefined && /swiftshader/i.test(`${adapter.description} ${adapter.architecture}`);
  return {
    naive: swiftShader,
    gemvMaxRows: 32,
    gemvThreads: 128,
    gemvRows: 4,
    gemvUnroll: 1,
    gemmThread: 4,
    subgroups: true,
  };
}

/** Checks tuning values, naming the field. */
export function checkMatmulOptions(m: MatmulOptions): void {
  const bad = (f: string, v: unknown, want: string) => {
    throw new RangeError(`matmul option ${f}: ${want}, got ${String(v)}`);
  };
  if (typeof m.naive !== 'boolean') bad('naive', m.naive, 'must be a boolean');
  if (typeof m.subgroups !== 'boolean') bad('subgroups', m.subgroups, 'must be a boolean');
  if (!(Number.isInteger(m.gemvMaxRows) && m.gemvMaxRows >= 0))
    bad('gemvMaxRows', m.gemvMaxRows, 'must be >= 0');
  if (![64, 128, 256].includes(m.gemvThreads)) bad('gemvThreads', m.gemvThreads, 'must be 64, 128 or 256');
  if (!(Number.isInteger(m.gemvRows) && m.gemvRows >= 1 && m.gemvRows <= 8))
    bad('gemvRows', m.gemvRows, 'must be in [1, 8]');
  if (![1, 2, 4].includes(m.gemvUnroll)) bad('gemvUnroll', m.gemvUnroll, 'must be 1, 2 or 4');
  if (m.gemmThread !== 4 && m.gemmThread !== 8) bad('gemmThread', m.gemmThread, 'must be 4 or 8');
}

/** Rows of one GEMV tile (a power of two covering `rows`, at most 8). */
export function gemvTileRows(rows: number): number {
  let t = 1;
  while (t < Math.min(rows, 8)) t *= 2;
  return t;
}

/**
 * Records `s`: GEMV when the rows are few (`dense` rows ≤ `gemvMaxRows`, or a tile list built
 * for GEMV tiles) and the weights are contiguous along `k`, otherwise the tiled kernel.
 */
export function matmul(o: Owner, s: MatmulSpec, mm: MatmulState): void {
  const r = s.rows;
  if (r.kind === 'dense' && (r.n === 0 || r.batches === 0 || s.N === 0)) return;
  const fits = gemvWordElems(s) > 0;
  const gemv = r.kind === 'dense' ? r.n <= mm.gemvMaxRows && fits : r.rows <= 8 && fits;
  if (gemv) {
    const tileRows = r.kind === 'dense' ? gemvTileRows(r.n) : r.rows;
    const shape = {
      threads: mm.gemvThreads,
      rows: mm.gemvRows,
      unroll: mm.gemvUnroll,
      tileRows,
      subgroups: mm.subgroups && o.gpu.subgroups,
    };
    run(o, [gemvKernel(s, shape, mm.texts)]);
  } else {
    if (s.gated !== undefined) throw new Error('internal: gated products need the GEMV kernel');
    run(o, [gemmKernel(s, mm.gemmThread, mm.texts)]);
  }
}
