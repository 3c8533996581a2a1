/**
 * GEMV-shaped matmul for a few rows (decode): memory bound on the weights, so each weight word is
 * loaded once per row tile, by consecutive invocations (coalesced), and applied to every row of
 * the tile from registers. A workgroup owns `R` outputs per row; its invocations stride along `k`
 * (`U` independent loads per weight row per step), then reduce (`subgroupAdd` and workgroup
 * memory, or a workgroup tree without subgroups). 16-bit weights are read as `u32` words and
 * unpacked. Gated (`spec.gated = I`): output `j` is `silu(W[j]·x) · (W[j + I]·x)` — the MoE
 * gate‖up product and its SiLU in one pass. 16-bit outputs whose rows start on whole words are
 * written as packed words (one invocation per pair of outputs), with no f32 scratch or pack pass.
 */
import { setWord, wordAt } from './bindings.js';
import {
  headerWgsl,
  type KernelTexts,
  type MatmulSpec,
  matmulLaunch,
  memoText,
  outRowWgsl,
  packedOut,
  rowTiles,
  textKey,
  xRowWgsl,
} from './matmul-spec.js';
import type { Kernel } from './run.js';
import { is16 } from './tensor.js';

/** GEMV shape: invocations, outputs per workgroup, unroll, rows per tile, subgroup reduction. */
export interface GemvShape {
  threads: number;
  rows: number;
  unroll: number;
  tileRows: number;
  subgroups: boolean;
}

/** Elements per loaded weight word (2 for packed 16-bit), or 0 when the spec does not fit GEMV. */
export function gemvWordElems(s: MatmulSpec): number {
  if (s.wsq !== 1) return 0;
  if (!is16(s.w.dtype)) return 1;
  const even = [s.w.offset, s.wsj, s.wz, s.K, s.gated ?? 0].every((v) => v % 2 === 0);
  return even ? 2 : 0;
}

function unpack(dtype: string, w: string): string {
  return dtype === 'bf16'
    ? `vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u))`
    : `unpack2x16float(${w})`;
}

const SILU =
  'fn silu(g: f32) -> f32 { if (g >= 0.0) { return g / (1.0 + exp(-g)); } let e = exp(g); return g * e / (1.0 + e); }';

/**
 * The kernel of `s` (call only when `gemvWordElems(s) > 0`). Its text depends only on the shape
 * key and is generated once per `texts` memo.
 */
export function gemvKernel(s: MatmulSpec, g: GemvShape, texts?: KernelTexts): Kernel {
  const E = gemvWordElems(s);
  const { threads: S, rows: R, unroll: U, tileRows: NT } = g;
  const packed = packedOut(s) && R % 2 === 0;
  const x16 = is16(s.x.dtype) && E === 2 && [s.x.offset, s.xs, s.xz].every((v) => v % 2 === 0);
  const key = `gemv|${E}|${x16}|${packed}|${S}|${R}|${U}|${NT}|${g.subgroups}|${textKey(s)}`;
  const text = memoText(texts, key, () => gemvText(s, g, E, packed, x16));
  const rt = Math.ceil(s.N / R);
  return matmulLaunch(s, packed, text, ['rt', 'u', rt], rt * rowTiles(s, NT), S, g.subgroups);
}

function gemvText(
  s: MatmulSpec,
  g: GemvShape,
  E: number,
  packed: boolean,
  x16: boolean,
): { decl: string; body: string } {
  const { threads: S, rows: R, unroll: U, tileRows: NT } = g;
  const gated = s.gated !== undefined;
  const RR = gated ? 2 * R : R; // weight rows per workgroup
  const hdr = headerWgsl(s, NT);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const wval = (q: string) => (E === 2 ? unpack(s.w.dtype, q) : `bitcast<f32>(${q})`);
  // x value(s) of token t at word c of the row.
  const xval = (t: number, c: string) => {
    if (E === 1) return `ld_x(x${t} + ${c})`;
    if (x16) return unpack(s.x.dtype, wordAt(s.x, 'x', `(o_x() + x${t}) / 2u + ${c}`));
    return `vec2<f32>(ld_x(x${t} + 2u * (${c})), ld_x(x${t} + 2u * (${c}) + 1u))`;
  };
  const fma = (q: string) => (E === 2 ? `dot(${q}, xv)` : `${q} * xv`);
  // Loads of every unrolled word first (independent, in flight together), then the products.
  const step = (us: number[], c: (u: number) => string) => {
    const lines = us.flatMap((u) =>
      range(RR).map((r) => `let q${u}_${r} = ${wval(wordAt(s.w, 'w', `w${r} + ${c(u)}`))};`),
    );
    for (const u of us)
      for (const t of range(NT)) {
        const acc = range(RR)
          .map((r) => `a${t}_${r} += ${fma(`q${u}_${r}`)};`)
          .join(' ');
        lines.push(`if (${t}u < nt) { let xv = ${xval(t, c(u))}; ${acc} }`);
      }
    return lines.join('\n    ');
  };
  // The value of output (token t, output r) from the reduced sums `sum(weight row)`.
  const value = (sum: (r: string) => string, r: string) =>
    gated ? `silu(${sum(r)}) * ${sum(`${r} + ${R}u`)}` : sum(r);
  const store = (t: string, r: string, sum: (r: string) => string) => {
    const row = outRowWgsl(s, `m0 + ${t}`);
    if (!packed) return `if (j0 + ${r} < p_N()) { st_d(${row} + j0 + ${r}, ${value(sum, r)}); }`;
    const pair = `to16_d(${value(sum, r)}) | (to16_d(${value(sum, `${r} + 1u`)}) << 16u)`;
    return `if (j0 + ${r} < p_N()) { ${setWord(s.out, 'd', `(o_d() + ${row} + j0 + ${r}) / 2u`, pair)} }`;
  };
  const per = packed ? R / 2 : R; // writers per row of the tile
  const rstep = packed ? '2u * ' : '';
  const nrr = NT * RR;
  const reduce = g.subgroups
    ? `  let sg = lid / sgs; let nsg = (${S}u + sgs - 1u) / sgs;
${range(NT)
  .map(
    (t) =>
      `  if (${t}u < nt) { ${range(RR)
        .map(
          (r) =>
            `let v${r} = subgroupAdd(a${t}_${r}); if (sgl == 0u) { red[sg * ${nrr}u + ${t * RR + r}u] = v${r}; }`,
        )
        .join(' ')} }`,
  )
  .join('\n')}
  workgroupBarrier();
  if (lid < nt * ${per}u) {
    let t = lid / ${per}u; let r = ${rstep}(lid % ${per}u);
    ${store('t', 'r', (r) => `rsum(t * ${RR}u + ${r}, nsg)`)}
  }`
    : range(NT)
        .map(
          (t) => `  if (${t}u < nt) {
${range(RR)
  .map((r) => `    red[lid * ${RR}u + ${r}u] = a${t}_${r};`)
  .join('\n')}
    workgroupBarrier();
    for (var h = ${S / 2}u; h > 0u; h >>= 1u) {
      if (lid < h) { for (var r = 0u; r < ${RR}u; r++) { red[lid * ${RR}u + r] += red[(lid + h) * ${RR}u + r]; } }
      workgroupBarrier();
    }
    if (lid < ${per}u) { let r = ${rstep}lid; ${store(`${t}u`, 'r', (r) => `red[${r}]`)} }
    workgroupBarrier();
  }`,
        )
        .join('\n');
  const redSize = g.subgroups ? (S / 4) * nrr : S * RR;
  const rsum = g.subgroups
    ? `fn rsum(v: u32, nsg: u32) -> f32 { var a = 0.0; for (var k = 0u; k < nsg; k++) { a += red[k * ${nrr}u + v]; } return a; }`
    : '';
  const wRow = (r: number) =>
    r < R ? `min(j0 + ${r}u, p_N() - 1u)` : `min(j0 + ${r - R}u, p_N() - 1u) + ${s.gated ?? 0}u`;
  return {
    decl: [hdr.decl, `var<workgroup> red: array<f32, ${redSize}>;`, rsum, gated ? SILU : ''].join('\n'),
    body: `  let rt = wg % p_rt(); let ti = wg / p_rt();
${hdr.body}
  let nt = mEnd - m0;
  let j0 = rt * ${R}u;
  let wb = o_w() + z * p_wz();
${range(RR)
  .map((r) => `  let w${r} = (wb + (${wRow(r)}) * p_wsj()) / ${E}u;`)
  .join('\n')}
${range(NT)
  .map((t) => `  let x${t} = ${xRowWgsl(s, `min(m0 + ${t}u, mEnd - 1u)`)};`)
  .join('\n')}
${range(NT)
  .flatMap((t) => range(RR).map((r) => `  var a${t}_${r} = 0.0;`))
  .join('\n')}
  let kw = p_K() / ${E}u;
  let full = (kw / ${S * U}u) * ${S * U}u;
  for (var c = lid; c < full; c += ${S * U}u) {
    ${step(range(U), (u) => `c + ${u * S}u`)}
  }
  for (var c = full + lid; c < kw; c += ${S}u) {
    ${step([0], () => 'c')}
  }
${reduce}`,
  };
}
