/**
 * GEMV-shaped matmul for a few rows (decode): memory bound on the weights, so each weight word is
 * loaded once per row tile, by consecutive invocations (coalesced), and applied to every row of
 * the tile from registers. A workgroup owns `R` weight rows; its invocations stride along `k`
 * (`U` independent loads per row per step), then reduce (`subgroupAdd` and workgroup memory, or
 * a workgroup tree without subgroups). 16-bit weights are read as `u32` words and unpacked.
 */
import { wordAt } from './bindings.js';
import {
  commonParams,
  headerWgsl,
  type MatmulSpec,
  outRowWgsl,
  rowBinds,
  rowTiles,
  xRowWgsl,
} from './matmul-spec.js';
import type { Kernel } from './run.js';
import { is16 } from './tensor.js';

/** GEMV shape: invocations, weight rows per workgroup, unroll, rows per tile, subgroup reduction. */
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
  const even = [s.w.offset, s.wsj, s.wz, s.K].every((v) => v % 2 === 0);
  return even ? 2 : 0;
}

function unpack(dtype: string, w: string): string {
  return dtype === 'bf16'
    ? `vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u))`
    : `unpack2x16float(${w})`;
}

/** The kernel of `s` (call only when `gemvWordElems(s) > 0`). */
export function gemvKernel(s: MatmulSpec, g: GemvShape): Kernel {
  const E = gemvWordElems(s);
  const { threads: S, rows: R, unroll: U, tileRows: NT } = g;
  const x16 = is16(s.x.dtype) && E === 2 && [s.x.offset, s.xs, s.xz].every((v) => v % 2 === 0);
  const hdr = headerWgsl(s, NT);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const wWord = (i: string) => wordAt(s.w, 'w', i);
  const wval = (q: string) => (E === 2 ? unpack(s.w.dtype, q) : `bitcast<f32>(${q})`);
  // x value(s) of token t at word c of the row.
  const xval = (t: number, c: string) => {
    if (E === 1) return `ld_x(x${t} + ${c})`;
    if (x16) return unpack(s.x.dtype, wordAt(s.x, 'x', `(o_x() + x${t}) / 2u + ${c}`));
    return `vec2<f32>(ld_x(x${t} + 2u * (${c})), ld_x(x${t} + 2u * (${c}) + 1u))`;
  };
  const prod = E === 2 ? 'dot' : '';
  // Loads of every unrolled word first (independent, in flight together), then the products.
  const step = (us: number[], c: (u: number) => string) => {
    const lines = us.flatMap((u) =>
      range(R).map((r) => `let q${u}_${r} = ${wval(wWord(`w${r} + ${c(u)}`))};`),
    );
    for (const u of us)
      for (const t of range(NT)) {
        const acc = range(R)
          .map((r) => `a${t}_${r} += ${prod}(q${u}_${r}${E === 2 ? ', ' : ' * '}xv);`)
          .join(' ');
        lines.push(`if (${t}u < nt) { let xv = ${xval(t, c(u))}; ${acc} }`);
      }
    return lines.join('\n    ');
  };
  const ntr = NT * R;
  const reduce = g.subgroups
    ? `  let sg = lid / sgs; let nsg = (${S}u + sgs - 1u) / sgs;
${range(NT)
  .map(
    (t) =>
      `  if (${t}u < nt) { ${range(R)
        .map(
          (r) =>
            `let v${r} = subgroupAdd(a${t}_${r}); if (sgl == 0u) { red[sg * ${ntr}u + ${t * R + r}u] = v${r}; }`,
        )
        .join(' ')} }`,
  )
  .join('\n')}
  workgroupBarrier();
  if (lid < nt * ${R}u) {
    var acc = 0.0;
    for (var k = 0u; k < nsg; k++) { acc += red[k * ${ntr}u + lid]; }
    let j = j0 + lid % ${R}u;
    if (j < p_N()) { st_d(${outRowWgsl(s, `m0 + lid / ${R}u`)} + j, acc); }
  }`
    : range(NT)
        .map(
          (t) => `  if (${t}u < nt) {
${range(R)
  .map((r) => `    red[lid * ${R}u + ${r}u] = a${t}_${r};`)
  .join('\n')}
    workgroupBarrier();
    for (var h = ${S / 2}u; h > 0u; h >>= 1u) {
      if (lid < h) { for (var r = 0u; r < ${R}u; r++) { red[lid * ${R}u + r] += red[(lid + h) * ${R}u + r]; } }
      workgroupBarrier();
    }
    if (lid < ${R}u && j0 + lid < p_N()) { st_d(${outRowWgsl(s, `m0 + ${t}u`)} + j0 + lid, red[lid]); }
    workgroupBarrier();
  }`,
        )
        .join('\n');
  const redSize = g.subgroups ? (S / 4) * ntr : S * R;
  const rt = Math.ceil(s.N / R);
  return {
    binds: [
      { name: 'x', t: s.x },
      { name: 'w', t: s.w },
      ...rowBinds(s),
      { name: 'd', t: s.out, access: 'write' },
    ],
    params: [...commonParams(s), ['rt', 'u', rt]],
    decl: `${hdr.decl}\nvar<workgroup> red: array<f32, ${redSize}>;`,
    body: `  let rt = wg % p_rt(); let ti = wg / p_rt();
${hdr.body}
  let nt = mEnd - m0;
  let j0 = rt * ${R}u;
  let wb = o_w() + z * p_wz();
${range(R)
  .map((r) => `  let w${r} = (wb + min(j0 + ${r}u, p_N() - 1u) * p_wsj()) / ${E}u;`)
  .join('\n')}
${range(NT)
  .map((t) => `  let x${t} = ${xRowWgsl(s, `min(m0 + ${t}u, mEnd - 1u)`)};`)
  .join('\n')}
${range(NT)
  .flatMap((t) => range(R).map((r) => `  var a${t}_${r} = 0.0;`))
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
    groups: rt * rowTiles(s, NT),
    size: S,
    subgroups: g.subgroups,
  };
}
