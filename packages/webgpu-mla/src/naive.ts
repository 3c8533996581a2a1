/**
 * The first matmul kernels, one invocation per output with a plain loop over `k` (every output
 * re-reads its weight row; the MoE experts re-read each expert per token). Kept as the baseline
 * the benchmark compares against (`MatmulOptions.naive`); callers validate shapes first.
 */
import { alloc, dispose } from './memory.js';
import { run } from './run.js';
import type { Owner, WebGpuTensor } from './tensor.js';

const SILU =
  'fn silu(g: f32) -> f32 { if (g >= 0.0) { return g / (1.0 + exp(-g)); } let e = exp(g); return g * e / (1.0 + e); }';

/** `out[n, m] = x[n, k] · w[m, k]ᵀ`. */
export function linearNaive(
  o: Owner,
  x: WebGpuTensor,
  w: WebGpuTensor,
  out: WebGpuTensor,
  n: number,
  m: number,
  k: number,
): void {
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'w', t: w },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [
        ['m', 'u', m],
        ['k', 'u', k],
      ],
      body: `  let r = i / p_m(); let j = i % p_m();
  var s = 0.0;
  for (var q = 0u; q < p_k(); q++) { s += ld_x(r * p_k() + q) * ld_w(j * p_k() + q); }
  st_d(i, s);`,
      threads: n * m,
    },
  ]);
}

/** Per-head `out[t, h] = x[t, h] · w[h]` (or `w[h]ᵀ`). */
export function headMatmulNaive(
  o: Owner,
  x: WebGpuTensor,
  w: WebGpuTensor,
  out: WebGpuTensor,
  dims: { n: number; H: number; k: number; m: number },
  transposeW: boolean,
): void {
  const { n, H, k, m } = dims;
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'w', t: w },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [
        ['h', 'u', H],
        ['m', 'u', m],
        ['k', 'u', k],
        ['tr', 'u', transposeW ? 1 : 0],
      ],
      body: `  let j = i % p_m(); let th = i / p_m(); let h = th % p_h();
  var s = 0.0;
  for (var q = 0u; q < p_k(); q++) {
    var wi = (h * p_k() + q) * p_m() + j;
    if (p_tr() == 1u) { wi = (h * p_m() + j) * p_k() + q; }
    s += ld_x(th * p_k() + q) * ld_w(wi);
  }
  st_d(i, s);`,
      threads: n * H * m,
    },
  ]);
}

/** The experts, one invocation per (token, k, column) and then per (token, column). */
export function moeExpertsNaive(
  o: Owner,
  t: {
    x: WebGpuTensor;
    ids: WebGpuTensor;
    w: WebGpuTensor;
    gu: WebGpuTensor;
    dn: WebGpuTensor;
    out: WebGpuTensor;
  },
  dims: { n: number; K: number; I: number; hidden: number; El: number },
  expertStart: number,
): void {
  const { x, ids, w, gu, dn, out } = t;
  const { n, K, I, hidden, El } = dims;
  const h = alloc(o, [Math.max(1, n * K * I)], 'f32', 'moeExperts scratch');
  const common = [
    ['K', 'u', K],
    ['I', 'u', I],
    ['hid', 'u', hidden],
    ['el', 'i', El],
    ['e0', 'i', expertStart],
  ] as const;
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'ids', t: ids },
        { name: 'gu', t: gu },
        { name: 'h', t: h, access: 'write' },
      ],
      params: common,
      decl: SILU,
      body: `  let c = i % p_I(); let tk = i / p_I(); let t = tk / p_K();
  let e = ld_ids(tk) - p_e0();
  var v = 0.0;
  if (e >= 0 && e < p_el()) {
    let gb = (u32(e) * 2u * p_I() + c) * p_hid();
    let ub = gb + p_I() * p_hid();
    var g = 0.0; var u = 0.0;
    for (var q = 0u; q < p_hid(); q++) {
      let xv = ld_x(t * p_hid() + q);
      g += ld_gu(gb + q) * xv; u += ld_gu(ub + q) * xv;
    }
    v = silu(g) * u;
  }
  st_h(i, v);`,
      threads: n * K * I,
    },
    {
      binds: [
        { name: 'h', t: h },
        { name: 'ids', t: ids },
        { name: 'w', t: w },
        { name: 'dn', t: dn },
        { name: 'd', t: out, access: 'write' },
      ],
      params: common,
      body: `  let c = i % p_hid(); let t = i / p_hid();
  var acc = 0.0;
  for (var k = 0u; k < p_K(); k++) {
    let e = ld_ids(t * p_K() + k) - p_e0();
    if (e < 0 || e >= p_el()) { continue; }
    let db = (u32(e) * p_hid() + c) * p_I();
    let hb = (t * p_K() + k) * p_I();
    var y = 0.0;
    for (var q = 0u; q < p_I(); q++) { y += ld_dn(db + q) * ld_h(hb + q); }
    acc += ld_w(t * p_K() + k) * y;
  }
  st_d(i, acc);`,
      threads: n * hidden,
    },
  ]);
  dispose(o, h);
}
