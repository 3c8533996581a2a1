/**
 * Data movement and dense layer ops: copyColumns, gatherRows, embedding, rmsNorm, linear,
 * headMatmul, rope, siluMul, add, argmax.
 */
import type { RopeOptions, Tensor } from '@dcp/backend';
import { type MatmulState, matmul } from './matmul.js';
import { headMatmulNaive, linearNaive } from './naive.js';
import { run } from './run.js';
import { arg, count, is16, lastDim, makeTensor, type Owner, type WebGpuTensor } from './tensor.js';

/** Throws a RangeError naming the op when `cond` is false. */
export function need(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(msg);
}

function floatOrSame(a: WebGpuTensor, b: WebGpuTensor, op: string): void {
  need(
    (a.dtype === 'i32') === (b.dtype === 'i32'),
    `${op}: cannot mix i32 and float tensors (${a.dtype} → ${b.dtype})`,
  );
}

/** The i32 word view of a 16-bit tensor whose offset and row width are even (raw copies). */
function wordView(t: WebGpuTensor, cols: number): WebGpuTensor | null {
  if (!is16(t.dtype) || t.offset % 2 !== 0 || cols % 2 !== 0) return null;
  return makeTensor(t.storage, [count(t) / 2], 'i32', t.offset / 2, true);
}

/** `dst[r, dstCol + j] = src[r, srcCol + j]` for `j < width`. */
export function copyColumns(
  o: Owner,
  srcT: Tensor,
  srcCol: number,
  dstT: Tensor,
  dstCol: number,
  width: number,
): void {
  const src = arg(srcT, 'copyColumns src');
  const dst = arg(dstT, 'copyColumns dst');
  floatOrSame(src, dst, 'copyColumns');
  const sc = lastDim(src);
  const dc = lastDim(dst);
  const rows = sc === 0 ? 0 : count(src) / sc;
  need(rows * dc === count(dst), `copyColumns: src has ${rows} rows of ${sc}, dst must have ${rows} rows`);
  for (const [v, name] of [
    [srcCol, 'srcCol'],
    [dstCol, 'dstCol'],
    [width, 'width'],
  ] as const)
    need(Number.isInteger(v) && v >= 0, `copyColumns ${name}: must be an integer >= 0, got ${v}`);
  need(srcCol + width <= sc, `copyColumns: srcCol ${srcCol} + width ${width} > ${sc} columns`);
  need(dstCol + width <= dc, `copyColumns: dstCol ${dstCol} + width ${width} > ${dc} columns`);
  run(o, [
    {
      binds: [
        { name: 's', t: src },
        { name: 'd', t: dst, access: 'write' },
      ],
      params: [
        ['w', 'u', width],
        ['sc', 'u', sc],
        ['dc', 'u', dc],
        ['s0', 'u', srcCol],
        ['d0', 'u', dstCol],
      ],
      body: '  let r = i / p_w(); let j = i % p_w();\n  st_d(r * p_dc() + p_d0() + j, ld_s(r * p_sc() + p_s0() + j));',
      threads: rows * width,
      partial: true,
    },
  ]);
}

/** `dst[i, :] = src[indices[i], :]`. */
export function gatherRows(o: Owner, srcT: Tensor, idxT: Tensor, dstT: Tensor): void {
  let src = arg(srcT, 'gatherRows src');
  const idx = arg(idxT, 'gatherRows indices');
  let dst = arg(dstT, 'gatherRows dst');
  need(idx.dtype === 'i32', `gatherRows indices: must be i32, got ${idx.dtype}`);
  need(src.dtype === dst.dtype, `gatherRows: dst dtype ${dst.dtype} must equal src dtype ${src.dtype}`);
  let c = lastDim(src);
  const n = count(idx);
  need(count(dst) === n * c, `gatherRows dst: must be [${n}, ${c}]`);
  const rows = c === 0 ? 0 : count(src) / c;
  const ws = wordView(src, c);
  const wd = wordView(dst, c);
  if (ws && wd) {
    src = ws;
    dst = wd;
    c /= 2;
  }
  run(o, [
    {
      binds: [
        { name: 's', t: src },
        { name: 'x', t: idx },
        { name: 'd', t: dst, access: 'write' },
      ],
      params: [
        ['c', 'u', c],
        ['rows', 'u', rows],
      ],
      body: '  let r = i / p_c(); let j = i % p_c();\n  let s = u32(clamp(ld_x(r), 0, i32(p_rows()) - 1));\n  st_d(i, ld_s(s * p_c() + j));',
      threads: n * c,
    },
  ]);
}

/** Vocab-parallel embedding (rows outside this rank's vocab part are zero). */
export function embedding(o: Owner, idsT: Tensor, tableT: Tensor, vocabStart: number, outT: Tensor): void {
  const ids = arg(idsT, 'embedding ids');
  const table = arg(tableT, 'embedding table');
  const out = arg(outT, 'embedding out');
  need(ids.dtype === 'i32', `embedding ids: must be i32, got ${ids.dtype}`);
  need(table.shape.length === 2, 'embedding table: must be [vocabPart, hidden]');
  need(Number.isInteger(vocabStart), `embedding vocabStart: must be an integer, got ${vocabStart}`);
  const [vp, hidden] = table.shape as [number, number];
  need(count(out) === count(ids) * hidden, `embedding out: must be [${count(ids)}, ${hidden}]`);
  run(o, [
    {
      binds: [
        { name: 'x', t: ids },
        { name: 't', t: table },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [
        ['h', 'u', hidden],
        ['vp', 'i', vp],
        ['v0', 'i', vocabStart],
      ],
      body: `  let r = i / p_h(); let c = i % p_h();
  let l = ld_x(r) - p_v0();
  var v = 0.0;
  if (l >= 0 && l < p_vp()) { v = ld_t(u32(l) * p_h() + c); }
  st_d(i, v);`,
      threads: count(out),
    },
  ]);
}

const REDUCE = `var<workgroup> red: array<f32, 64>;
fn reduce_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;

/** `out[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight`. */
export function rmsNorm(o: Owner, xT: Tensor, wT: Tensor, eps: number, outT: Tensor): void {
  const x = arg(xT, 'rmsNorm x');
  const w = arg(wT, 'rmsNorm weight');
  const out = arg(outT, 'rmsNorm out');
  const d = count(w);
  need(d > 0 && lastDim(x) === d, `rmsNorm: x rows must have weight's ${d} columns`);
  need(count(out) === count(x), 'rmsNorm out: must have the shape of x');
  need(Number.isFinite(eps) && eps >= 0, `rmsNorm eps: must be >= 0, got ${eps}`);
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'w', t: w },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [
        ['d', 'u', d],
        ['eps', 'f', eps],
      ],
      decl: REDUCE,
      body: `  let base = wg * p_d();
  var ss = 0.0;
  for (var k = lid; k < p_d(); k += 64u) { let v = ld_x(base + k); ss += v * v; }
  let inv = 1.0 / sqrt(reduce_sum(ss, lid) / f32(p_d()) + p_eps());
  for (var k = lid; k < p_d(); k += 64u) { st_d(base + k, ld_x(base + k) * inv * ld_w(k)); }`,
      groups: count(x) / d,
    },
  ]);
}

/** `out = x · wᵀ` with `w` `[out, in]`. */
export function linear(o: Owner, xT: Tensor, wT: Tensor, outT: Tensor, mm: MatmulState): void {
  const x = arg(xT, 'linear x');
  const w = arg(wT, 'linear w');
  const out = arg(outT, 'linear out');
  need(w.shape.length === 2, `linear w: must be [out, in], got [${w.shape.join(', ')}]`);
  const [m, k] = w.shape as [number, number];
  need(
    lastDim(x) === k || (k === 0 && count(x) === 0),
    `linear: x rows must have ${k} columns (w is [${m}, ${k}])`,
  );
  const n = k === 0 ? 0 : count(x) / k;
  need(count(out) === n * m, `linear out: must be [${n}, ${m}]`);
  if (mm.naive) {
    linearNaive(o, x, w, out, n, m, k);
    return;
  }
  const rows = { kind: 'dense', n, batches: 1 } as const;
  matmul(o, { x, w, out, N: m, K: k, xs: k, xz: 0, wsj: k, wsq: 1, wz: 0, os: m, oz: 0, rows }, mm);
}

/** Per-head matmul (MLA weight absorption). */
export function headMatmul(
  o: Owner,
  xT: Tensor,
  wT: Tensor,
  outT: Tensor,
  transposeW: boolean,
  mm: MatmulState,
): void {
  const x = arg(xT, 'headMatmul x');
  const w = arg(wT, 'headMatmul w');
  const out = arg(outT, 'headMatmul out');
  need(w.shape.length === 3, 'headMatmul w: must be [H, k, m] (or [H, m, k] transposed)');
  const [H, a, b] = w.shape as [number, number, number];
  const [k, m] = transposeW ? [b, a] : [a, b];
  need(k > 0 && count(x) % (H * k) === 0, `headMatmul x: must be [n, ${H}, ${k}]`);
  const n = count(x) / (H * k);
  need(count(out) === n * H * m, `headMatmul out: must be [${n}, ${H}, ${m}]`);
  if (mm.naive) {
    headMatmulNaive(o, x, w, out, { n, H, k, m }, transposeW);
    return;
  }
  // Batch z = head: X(z, t, q) = x[(t·H + z)·k + q], W(z, j, q) = w[z·k·m + (transposed ? j·k + q : q·m + j)].
  matmul(
    o,
    {
      x,
      w,
      out,
      N: m,
      K: k,
      xs: H * k,
      xz: k,
      wsj: transposeW ? k : 1,
      wsq: transposeW ? 1 : m,
      wz: k * m,
      os: H * m,
      oz: m,
      rows: { kind: 'dense', n, batches: H },
    },
    mm,
  );
}

const LAYOUTS = { 'interleaved-to-half': 0, interleaved: 1, half: 2 } as const;

/** Rotary embedding in place. */
export function rope(o: Owner, xT: Tensor, posT: Tensor, csT: Tensor, r: RopeOptions): void {
  const x = arg(xT, 'rope x');
  const pos = arg(posT, 'rope positions');
  const cs = arg(csT, 'rope cosSin');
  need(pos.dtype === 'i32', `rope positions: must be i32, got ${pos.dtype}`);
  need(cs.dtype === 'f32' && cs.shape.length === 2, 'rope cosSin: must be f32 [maxPositions, rotDim]');
  const { headDim, offset, rotDim, layout } = r;
  need(layout in LAYOUTS, `rope layout: unknown '${String(layout)}'`);
  need(
    Number.isInteger(rotDim) && rotDim > 0 && rotDim % 2 === 0 && rotDim <= 1024,
    `rope rotDim: must be even in [2, 1024], got ${rotDim}`,
  );
  need(cs.shape[1] === rotDim, `rope cosSin: must have rotDim=${rotDim} columns`);
  need(
    Number.isInteger(offset) && offset >= 0 && offset + rotDim <= headDim,
    'rope: offset + rotDim must fit in headDim',
  );
  const n = count(pos);
  const rows = count(x) / headDim;
  need(
    Number.isInteger(rows) && n > 0 ? rows % n === 0 : rows === 0,
    `rope x: must be [${n}, H, ${headDim}]`,
  );
  if (rows === 0) return;
  run(o, [
    {
      binds: [
        { name: 'x', t: x, access: 'rw' },
        { name: 'p', t: pos },
        { name: 'c', t: cs },
      ],
      params: [
        ['h', 'u', rows / n],
        ['hd', 'u', headDim],
        ['off', 'u', offset],
        ['rot', 'u', rotDim],
        ['lay', 'u', LAYOUTS[layout]],
        ['maxp', 'i', cs.shape[0]!],
      ],
      decl: 'var<workgroup> y: array<f32, 1024>;',
      body: `  let t = wg / p_h();
  let ps = u32(clamp(ld_p(t), 0, p_maxp() - 1));
  let base = wg * p_hd() + p_off();
  let half = p_rot() / 2u;
  for (var k = lid; k < half; k += 64u) {
    let c = ld_c(ps * p_rot() + k);
    let s = ld_c(ps * p_rot() + half + k);
    if (p_lay() == 2u) {
      let a = ld_x(base + k); let b = ld_x(base + k + half);
      y[k] = a * c - b * s; y[k + half] = b * c + a * s;
    } else {
      let a = ld_x(base + 2u * k); let b = ld_x(base + 2u * k + 1u);
      if (p_lay() == 0u) { y[k] = a * c - b * s; y[k + half] = b * c + a * s; }
      else { y[2u * k] = a * c - b * s; y[2u * k + 1u] = b * c + a * s; }
    }
  }
  workgroupBarrier();
  for (var k = lid; k < p_rot(); k += 64u) { st_x(base + k, y[k]); }`,
      groups: rows,
    },
  ]);
}

/** `out = silu(x[:, :I]) · x[:, I:]`. */
export function siluMul(o: Owner, xT: Tensor, outT: Tensor): void {
  const x = arg(xT, 'siluMul x');
  const out = arg(outT, 'siluMul out');
  const I = lastDim(out);
  need(
    lastDim(x) === 2 * I && count(x) === 2 * count(out),
    `siluMul: x must be [n, ${2 * I}] for out [n, ${I}]`,
  );
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [['I', 'u', I]],
      decl: 'fn silu(g: f32) -> f32 { if (g >= 0.0) { return g / (1.0 + exp(-g)); } let e = exp(g); return g * e / (1.0 + e); }',
      body: '  let t = i / p_I(); let c = i % p_I();\n  st_d(i, silu(ld_x(t * 2u * p_I() + c)) * ld_x(t * 2u * p_I() + p_I() + c));',
      threads: count(out),
    },
  ]);
}

/** `out = a + b` (out may alias a or b). */
export function add(o: Owner, aT: Tensor, bT: Tensor, outT: Tensor): void {
  const a = arg(aT, 'add a');
  const b = arg(bT, 'add b');
  const out = arg(outT, 'add out');
  need(
    count(a) === count(b) && count(a) === count(out),
    'add: a, b and out must have the same element count',
  );
  run(o, [
    {
      binds: [
        { name: 'a', t: a },
        { name: 'b', t: b },
        { name: 'd', t: out, access: 'write' },
      ],
      body: '  st_d(i, ld_a(i) + ld_b(i));',
      threads: count(out),
    },
  ]);
}

/** `out[r] = argmax(x[r])`, first index on ties. */
export function argmax(o: Owner, xT: Tensor, outT: Tensor): void {
  const x = arg(xT, 'argmax x');
  const out = arg(outT, 'argmax out');
  need(out.dtype === 'i32', `argmax out: must be i32, got ${out.dtype}`);
  const V = lastDim(x);
  need(V > 0 && count(x) === count(out) * V, `argmax: x must be [${count(out)}, V]`);
  run(o, [
    {
      binds: [
        { name: 'x', t: x },
        { name: 'd', t: out, access: 'write' },
      ],
      params: [['v', 'u', V]],
      decl: 'var<workgroup> bv: array<f32, 64>;\nvar<workgroup> bi: array<u32, 64>;',
      body: `  let base = wg * p_v();
  var v = 0.0; var idx = 0xffffffffu;
  for (var k = lid; k < p_v(); k += 64u) {
    let a = ld_x(base + k);
    if (idx == 0xffffffffu || a > v) { v = a; idx = k; }
  }
  bv[lid] = v; bi[lid] = idx;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = bv[lid + s]; let oi = bi[lid + s];
      if (oi != 0xffffffffu && (bi[lid] == 0xffffffffu || ov > bv[lid] || (ov == bv[lid] && oi < bi[lid]))) {
        bv[lid] = ov; bi[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { st_d(wg, i32(bi[0])); }`,
      groups: count(out),
    },
  ]);
}
