/**
 * What one matrix product is, for both matmul kernels: `out[i, j] = Σ_q X[i, q]·W[j, q]` over a
 * set of rows `i`, and the WGSL pieces that turn that description into addresses. Rows are:
 *
 * - `dense`: rows `[0, n)` of `Z` batches (`headMatmul`'s heads), element strides given;
 * - `tiles`: row tiles of a grouped product (the MoE experts): a tile list on the device
 *   (`[count, (expert, firstRow)…]`) and per-expert row ends (`offs`), written by the sort
 *   kernel in `moe.ts`; a tile is `rows` rows of one expert, `W` is that expert's matrix, and
 *   `X` row `i` is row `ord[i] / topK` of `x` (gathered tokens) or row `i` (already grouped).
 */
import { getOrMake, type Kernel, type Param } from './run.js';
import { is16, segments, type WebGpuTensor } from './tensor.js';

/** Rows `[0, n)` of each of `batches` batches. */
export interface DenseRows {
  kind: 'dense';
  n: number;
  batches: number;
}

/** Row tiles of a grouped product (see the module comment). */
export interface TileRows {
  kind: 'tiles';
  /** i32 `[1 + 2·maxTiles]`: count, then (expert, first row) per tile. */
  tiles: WebGpuTensor;
  /** i32 `[E + 1]`: row `offs[e]` is expert `e`'s first, `offs[e + 1]` its end. */
  offs: WebGpuTensor;
  /** i32 `[rows]`: pair index of each grouped row (X row = pair / topK), or null (X row = row). */
  ord: WebGpuTensor | null;
  topK: number;
  maxTiles: number;
  /** Rows per tile (the sort kernel's tile height). */
  rows: number;
}

/**
 * One product. `X(z, i, q) = x[z·xz + row(i)·xs + q]`, `W(z, j, q) = w[z·wz + j·wsj + q·wsq]`,
 * `out(z, i, j) = out[z·oz + i·os + j]`; `z` is the batch (dense) or the expert (tiles).
 */
export interface MatmulSpec {
  x: WebGpuTensor;
  w: WebGpuTensor;
  out: WebGpuTensor;
  /** Output columns (weight rows) and the reduction length. */
  N: number;
  K: number;
  xs: number;
  xz: number;
  wsj: number;
  wsq: number;
  wz: number;
  os: number;
  oz: number;
  rows: DenseRows | TileRows;
  /** GEMV only: `N = I` outputs `silu(W[j]·x) · (W[j + I]·x)` from a `[2I, K]` weight (gate‖up). */
  gated?: number;
}

/** Whether 16-bit output rows start on whole words (written as packed pairs, no pack pass). */
export function packedOut(s: MatmulSpec): boolean {
  const o = s.out;
  return is16(o.dtype) && [o.offset, s.N, s.os, s.oz].every((v) => v % 2 === 0);
}

/** The row-source bindings of a spec (tile list, offsets, gather order). */
export function rowBinds(s: MatmulSpec): { name: string; t: WebGpuTensor }[] {
  const r = s.rows;
  if (r.kind === 'dense') return [];
  return [
    { name: 'tl', t: r.tiles },
    { name: 'of', t: r.offs },
    ...(r.ord ? [{ name: 'od', t: r.ord }] : []),
  ];
}

/** Parameters shared by both kernels. */
export function commonParams(s: MatmulSpec): Param[] {
  const r = s.rows;
  return [
    ['N', 'u', s.N],
    ['K', 'u', s.K],
    ['xs', 'u', s.xs],
    ['xz', 'u', s.xz],
    ['wsj', 'u', s.wsj],
    ['wsq', 'u', s.wsq],
    ['wz', 'u', s.wz],
    ['os', 'u', s.os],
    ['oz', 'u', s.oz],
    ['n', 'u', r.kind === 'dense' ? r.n : 0],
    ['topk', 'u', r.kind === 'tiles' ? r.topK : 1],
  ];
}

/**
 * WGSL: `hdr = (z, firstRow, endRow, valid)` of row tile `ti`, loaded by invocation 0 and read
 * back uniformly. Dense tiles have `tileRows` rows (the kernel's capacity); listed tiles have
 * the list's height (at most the capacity).
 */
export function headerWgsl(s: MatmulSpec, tileRows: number): { decl: string; body: string } {
  if (s.rows.kind === 'tiles' && s.rows.rows > tileRows) {
    throw new RangeError(`matmul: tiles of ${s.rows.rows} rows exceed the kernel's ${tileRows}`);
  }
  const decl = 'var<workgroup> hdr: vec4<u32>;';
  const load =
    s.rows.kind === 'dense'
      ? `let mt = (p_n() + ${tileRows}u - 1u) / ${tileRows}u;
    let z = ti / mt; let m0 = (ti % mt) * ${tileRows}u;
    hdr = vec4<u32>(z, m0, min(m0 + ${tileRows}u, p_n()), 1u);`
      : `if (ti >= u32(ld_tl(0u))) { hdr = vec4<u32>(0u, 0u, 0u, 0u); } else {
      let e = u32(ld_tl(1u + 2u * ti)); let m0 = u32(ld_tl(2u + 2u * ti));
      hdr = vec4<u32>(e, m0, min(m0 + ${s.rows.kind === 'tiles' ? s.rows.rows : 0}u, u32(ld_of(e + 1u))), 1u);
    }`;
  return {
    decl,
    body: `  if (lid == 0u) {
    ${load}
  }
  let h = workgroupUniformLoad(&hdr);
  if (h.w == 0u) { return; }
  let z = h.x; let m0 = h.y; let mEnd = h.z;`,
  };
}

/** WGSL expression: the element index (in x's view) of the start of X row `i` of batch `z`. */
export function xRowWgsl(s: MatmulSpec, i: string): string {
  const r = s.rows;
  if (r.kind === 'dense') return `(z * p_xz() + (${i}) * p_xs())`;
  if (r.ord) return `((u32(ld_od(${i})) / p_topk()) * p_xs())`;
  return `((${i}) * p_xs())`;
}

/** WGSL expression: the element index (in out's view) of the start of output row `i`. */
export function outRowWgsl(s: MatmulSpec, i: string): string {
  return s.rows.kind === 'dense' ? `(z * p_oz() + (${i}) * p_os())` : `((${i}) * p_os())`;
}

/** Number of row tiles to launch (dense: exact; tiles: the list's capacity). */
export function rowTiles(s: MatmulSpec, tileRows: number): number {
  const r = s.rows;
  return r.kind === 'dense' ? r.batches * Math.ceil(r.n / tileRows) : r.maxTiles;
}

/** The parts of `s` its generated text depends on (dtypes, split buffers, row source). */
export function textKey(s: MatmulSpec): string {
  const t = (x: WebGpuTensor) => `${x.dtype}${segments(x) > 1 ? 's' : ''}`;
  const r = s.rows;
  const rows = r.kind === 'dense' ? 'd' : `t${r.rows}${r.ord ? 'o' : ''}`;
  return `${t(s.x)}|${t(s.w)}|${t(s.out)}|${rows}|${s.gated ?? ''}|${packedOut(s)}`;
}

/** Generated kernel text (module-scope WGSL and body) by shape key: built once per instance. */
export type KernelTexts = Map<string, { decl: string; body: string }>;

/** `decl`/`body` of `key` from `texts`, generated by `make` on the first use. */
export function memoText(
  texts: KernelTexts | undefined,
  key: string,
  make: () => { decl: string; body: string },
): { decl: string; body: string } {
  return texts ? getOrMake(texts, key, make) : make();
}

/**
 * The launch of a matmul kernel over `s` (both kernels bind and parameterise alike): x, w, the
 * row sources and the output (raw words when `packed`), the common parameters plus the kernel's
 * own `tileParam`, `groups` workgroups of `size` invocations.
 */
export function matmulLaunch(
  s: MatmulSpec,
  packed: boolean,
  text: { decl: string; body: string },
  tileParam: Param,
  groups: number,
  size: number,
  subgroups?: boolean,
): Kernel {
  return {
    binds: [
      { name: 'x', t: s.x },
      { name: 'w', t: s.w },
      ...rowBinds(s),
      { name: 'd', t: s.out, access: packed ? 'raw' : 'write' },
    ],
    params: [...commonParams(s), tileParam],
    decl: text.decl,
    body: text.body,
    groups,
    size,
    ...(subgroups === undefined ? {} : { subgroups }),
  };
}
