/**
 * Tiled matmul for many rows (prefill): 256 invocations compute a `BM×BM` output tile
 * (`BM = 16·T`, each invocation a `T×T` block), stepping through `k` in slices of 16 staged in
 * workgroup memory as `vec4<f32>` (`A[k][rows]`, `B[k][cols]`), so each staged value feeds `BM`
 * products and the inner loop reads one `vec4` per `T/4`·4 outputs. Any dtype and any strides
 * (the loads go through the binding helpers), so it also serves the transposed-or-not per-head
 * products and the grouped MoE tiles. 16-bit outputs whose rows start on whole words are
 * written as packed words (each invocation's columns come in pairs), with no pack pass.
 */
import { setWord } from './bindings.js';
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

const BK = 16;

/** The kernel of `s` with `T×T` outputs per invocation (`T` 4 or 8); text memoised in `texts`. */
export function gemmKernel(s: MatmulSpec, T: 4 | 8, texts?: KernelTexts): Kernel {
  const BM = 16 * T;
  const nt = Math.ceil(s.N / BM);
  const packed = packedOut(s);
  const text = memoText(texts, `gemm|${T}|${textKey(s)}`, () => gemmText(s, T));
  return matmulLaunch(s, packed, text, ['nt', 'u', nt], nt * rowTiles(s, BM), 256);
}

function gemmText(s: MatmulSpec, T: 4 | 8): { decl: string; body: string } {
  const BM = 16 * T;
  const QM = BM / 4; // vec4 slots per k
  const slots = (BK * QM) / 256; // slots each invocation stages per k-step (1 or 2)
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const hdr = headerWgsl(s, BM);
  const V = T / 4; // vec4s per invocation per dim
  const stage = range(slots)
    .map((l) => {
      const kk = `kq + ${(l * 256) / QM}u`;
      return `    {
      let gk = k0 + ${kk};
      var va = vec4<f32>(0.0); var vb = vec4<f32>(0.0);
      if (gk < p_K()) {
${range(4)
  .map(
    (i) => `        if (xo${i}) { va[${i}] = ld_x(xr${i} + gk); }
        if (wo${i}) { vb[${i}] = ld_w(wr${i} + gk * p_wsq()); }`,
  )
  .join('\n')}
      }
      As[(${kk}) * ${QM}u + q] = va; Bs[(${kk}) * ${QM}u + q] = vb;
    }`;
    })
    .join('\n');
  const inner = `      ${range(V)
    .map((v) => `let a${v} = As[kk * ${QM}u + ty * ${V}u + ${v}u];`)
    .join(' ')}
      ${range(V)
        .map((v) => `let b${v} = Bs[kk * ${QM}u + tx * ${V}u + ${v}u];`)
        .join(' ')}
${range(T)
  .map(
    (i) =>
      `      ${range(V)
        .map((v) => `c${i}_${v} += a${Math.floor(i / 4)}[${i % 4}] * b${v};`)
        .join(' ')}`,
  )
  .join('\n')}`;
  const packed = packedOut(s);
  const cell = (i: number, c: number) => `c${i}_${Math.floor(c / 4)}[${c % 4}]`;
  const put = (i: number, c: number) =>
    packed
      ? `if (n0 + tx * ${T}u + ${c}u < p_N()) { ${setWord(s.out, 'd', `(o_d() + ob + ${c}u) / 2u`, `to16_d(${cell(i, c)}) | (to16_d(${cell(i, c + 1)}) << 16u)`)} }`
      : `if (n0 + tx * ${T}u + ${c}u < p_N()) { st_d(ob + ${c}u, ${cell(i, c)}); }`;
  const store = range(T)
    .map(
      (i) => `  {
    let gi = m0 + ty * ${T}u + ${i}u;
    if (gi < mEnd) {
      let ob = ${outRowWgsl(s, 'gi')} + n0 + tx * ${T}u;
${range(packed ? T / 2 : T)
  .map((c) => `      ${put(i, packed ? 2 * c : c)}`)
  .join('\n')}
    }
  }`,
    )
    .join('\n');
  return {
    decl: `${hdr.decl}
var<workgroup> As: array<vec4<f32>, ${BK * QM}>;
var<workgroup> Bs: array<vec4<f32>, ${BK * QM}>;`,
    body: `  let ntile = wg % p_nt(); let ti = wg / p_nt();
${hdr.body}
  let n0 = ntile * ${BM}u;
  let tx = lid % 16u; let ty = lid / 16u;
  // Staging: slot (kq, q) holds rows/cols 4q..4q+3 at k = kq (+ 256/QM per extra slot).
  let q = lid % ${QM}u; let kq = lid / ${QM}u;
${range(4)
  .map(
    (i) => `  let xo${i} = m0 + 4u * q + ${i}u < mEnd;
  var xr${i} = 0u; if (xo${i}) { xr${i} = ${xRowWgsl(s, `m0 + 4u * q + ${i}u`)}; }
  let wo${i} = n0 + 4u * q + ${i}u < p_N();
  let wr${i} = z * p_wz() + min(n0 + 4u * q + ${i}u, p_N() - 1u) * p_wsj();`,
  )
  .join('\n')}
${range(T)
  .flatMap((i) => range(V).map((v) => `  var c${i}_${v} = vec4<f32>(0.0);`))
  .join('\n')}
  for (var k0 = 0u; k0 < p_K(); k0 += ${BK}u) {
${stage}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
${inner}
    }
    workgroupBarrier();
  }
${store}`,
  };
}
