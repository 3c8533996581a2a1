/**
 * Varlen attention (prefill; causal or not, with MLA's shared `k_pe` key part) and
 * `mergeAttnStates`. One workgroup per (query row, head): the scaled query sits in workgroup
 * memory, keys are scored 64 at a time, and an online softmax accumulates the values with each
 * invocation owning a few output columns.
 */
import type { Tensor, VarlenMeta } from '@dcp/backend';
import { need } from './dense.js';
import { run } from './run.js';
import { arg, count, type Owner } from './tensor.js';

function varlenKernel(dq: number, dv: number): { decl: string; body: string } {
  const MAXC = Math.max(1, Math.ceil(dv / 64));
  const decl = `var<workgroup> qs: array<f32, ${Math.max(1, dq)}>;
var<workgroup> ps: array<f32, 64>;
var<workgroup> info: vec4<u32>;`;
  const body = `  let qi = wg / p_H(); let h = wg % p_H();
  if (lid == 0u) {
    var lo = 0u; var hi = p_nr();
    while (hi - lo > 1u) { let mid = (lo + hi) / 2u; if (u32(ld_cq(mid)) <= qi) { lo = mid; } else { hi = mid; } }
    let ql = ld_cq(lo + 1u) - ld_cq(lo);
    let kl = ld_ck(lo + 1u) - ld_ck(lo);
    var vis = kl;
    if (p_causal() == 1u) { vis = clamp(kl - ql + i32(qi) - ld_cq(lo) + 1, 0, kl); }
    info = vec4<u32>(u32(ld_ck(lo)), u32(max(vis, 0)), 0u, 0u);
  }
  let inf = workgroupUniformLoad(&info);
  let kb = inf.x; let vis = inf.y;
  let dq = p_dk() + p_dr();
  for (var e = lid; e < dq; e += 64u) { qs[e] = ld_q((qi * p_H() + h) * dq + e) * p_scale(); }
  workgroupBarrier();
  var m = -3.0e38; var l = 0.0;
  var acc: array<f32, ${MAXC}>;
  var k0 = 0u;
  loop {
    if (k0 >= vis) { break; }
    let cnt = min(64u, vis - k0);
    if (lid < cnt) {
      let kj = kb + k0 + lid;
      var sc = 0.0;
      for (var p = 0u; p < p_dk(); p++) { sc += qs[p] * ld_k((kj * p_H() + h) * p_dk() + p); }
      for (var p = 0u; p < p_dr(); p++) { sc += qs[p_dk() + p] * ld_ks(kj * p_dr() + p); }
      ps[lid] = sc;
    }
    workgroupBarrier();
    var mt = m;
    for (var k = 0u; k < cnt; k++) { mt = max(mt, ps[k]); }
    let a = exp(m - mt);
    l *= a;
    for (var c = 0u; c < ${MAXC}u; c++) { acc[c] *= a; }
    for (var k = 0u; k < cnt; k++) {
      let p = exp(ps[k] - mt);
      l += p;
      let vb = ((kb + k0 + k) * p_H() + h) * p_dv();
      for (var c = 0u; c < ${MAXC}u; c++) {
        let d = lid + c * 64u;
        if (d < p_dv()) { acc[c] += p * ld_v(vb + d); }
      }
    }
    m = mt;
    workgroupBarrier();
    k0 += 64u;
  }
  let ob = (qi * p_H() + h) * p_dv();
  for (var c = 0u; c < ${MAXC}u; c++) {
    let d = lid + c * 64u;
    if (d < p_dv()) { st_o(ob + d, select(0.0, acc[c] / l, l > 0.0)); }
  }
  if (lid == 0u) { if (l > 0.0) { st_lse(qi * p_H() + h, m + log(l)); } else { stu_lse(qi * p_H() + h, NEG_INF_BITS); } }`;
  return { decl, body };
}

/** Varlen multi-head attention with LSE. */
export function attention(
  o: Owner,
  qT: Tensor,
  kT: Tensor,
  ksT: Tensor | null,
  vT: Tensor,
  meta: VarlenMeta,
  scale: number,
  outT: Tensor,
  lseT: Tensor,
): void {
  const q = arg(qT, 'attention q');
  const k = arg(kT, 'attention k');
  const ks = ksT ? arg(ksT, 'attention kShared') : null;
  const v = arg(vT, 'attention v');
  const cq = arg(meta.cuSeqLensQ, 'attention cuSeqLensQ');
  const ck = arg(meta.cuSeqLensK, 'attention cuSeqLensK');
  const out = arg(outT, 'attention out');
  const lse = arg(lseT, 'attention lse');
  need(
    q.shape.length === 3 && k.shape.length === 3 && v.shape.length === 3,
    'attention: q, k, v must be [rows, H, d]',
  );
  const [nq, H, dq] = q.shape as [number, number, number];
  const [nk, Hk, dk] = k.shape as [number, number, number];
  const dv = v.shape[2]!;
  const dr = ks ? count(ks) / Math.max(1, nk) : 0;
  need(Hk === H && v.shape[0] === nk && v.shape[1] === H, `attention: k and v must be [${nk}, ${H}, d]`);
  need(dk + dr === dq, `attention: q width ${dq} must be k width ${dk} + kShared width ${dr}`);
  need(dq <= 4096, `attention: head width ${dq} above 4096`);
  need(
    cq.dtype === 'i32' && ck.dtype === 'i32' && count(cq) === count(ck) && count(cq) >= 1,
    'attention: cuSeqLensQ and cuSeqLensK must be i32 [numReqs + 1]',
  );
  need(count(out) === nq * H * dv, `attention out: must be [${nq}, ${H}, ${dv}]`);
  need(lse.dtype === 'f32' && count(lse) === nq * H, `attention lse: must be f32 [${nq}, ${H}]`);
  need(meta.causal === true || meta.causal === false, 'attention causal: must be a boolean');
  if (nq === 0 || H === 0) return;
  const kern = varlenKernel(dq, dv);
  run(o, [
    {
      binds: [
        { name: 'q', t: q },
        { name: 'k', t: k },
        { name: 'ks', t: ks ?? k },
        { name: 'v', t: v },
        { name: 'cq', t: cq },
        { name: 'ck', t: ck },
        { name: 'o', t: out, access: 'write' },
        { name: 'lse', t: lse, access: 'write' },
      ],
      params: [
        ['H', 'u', H],
        ['nr', 'u', count(cq) - 1],
        ['dk', 'u', dk],
        ['dr', 'u', dr],
        ['dv', 'u', dv],
        ['causal', 'u', meta.causal ? 1 : 0],
        ['scale', 'f', scale],
      ],
      decl: kern.decl,
      body: kern.body,
      groups: nq * H,
    },
  ]);
}

/** Merges two partial attention results over disjoint key sets. */
export function mergeAttnStates(
  o: Owner,
  aT: Tensor,
  laT: Tensor,
  bT: Tensor,
  lbT: Tensor,
  outT: Tensor,
  olT: Tensor | null,
): void {
  const a = arg(aT, 'mergeAttnStates a');
  const la = arg(laT, 'mergeAttnStates lseA');
  const b = arg(bT, 'mergeAttnStates b');
  const lb = arg(lbT, 'mergeAttnStates lseB');
  const out = arg(outT, 'mergeAttnStates out');
  const ol = olT ? arg(olT, 'mergeAttnStates outLse') : null;
  const rows = count(la);
  need(rows > 0 || count(a) === 0, 'mergeAttnStates lseA: must be [n, H]');
  const D = rows === 0 ? 0 : count(a) / rows;
  need(
    Number.isInteger(D) && count(b) === count(a) && count(out) === count(a),
    'mergeAttnStates: a, b, out must be [n, H, D]',
  );
  need(
    la.dtype === 'f32' && lb.dtype === 'f32' && count(lb) === rows,
    'mergeAttnStates: LSEs must be f32 [n, H]',
  );
  need(!ol || (ol.dtype === 'f32' && count(ol) === rows), 'mergeAttnStates outLse: must be f32 [n, H]');
  if (rows === 0) return;
  // A row with D = 0 still writes its LSE: one invocation per row then.
  const Dt = Math.max(1, D);
  run(o, [
    {
      binds: [
        { name: 'a', t: a },
        { name: 'la', t: la },
        { name: 'b', t: b },
        { name: 'lb', t: lb },
        { name: 'o', t: out, access: 'write' },
        { name: 'ol', t: ol ?? la, access: ol ? 'write' : 'read' },
      ],
      params: [
        ['D', 'u', D],
        ['Dt', 'u', Dt],
        ['hasOl', 'u', ol ? 1 : 0],
      ],
      body: `  let r = i / p_Dt(); let d = i % p_Dt();
  let ba = ldu_la(r); let bb = ldu_lb(r);
  let fa = finite_bits(ba); let fb = finite_bits(bb);
  var m = -3.0e38;
  if (fa) { m = bitcast<f32>(ba); }
  if (fb) { m = max(m, bitcast<f32>(bb)); }
  var wa = 0.0; var wb = 0.0;
  if (fa) { wa = exp(bitcast<f32>(ba) - m); }
  if (fb) { wb = exp(bitcast<f32>(bb) - m); }
  let z = wa + wb;
  if (d < p_D()) {
    var v = 0.0;
    if (wa > 0.0) { v += wa * ld_a(r * p_D() + d); }
    if (wb > 0.0) { v += wb * ld_b(r * p_D() + d); }
    st_o(r * p_D() + d, select(0.0, v / z, z > 0.0));
  }
  if (d == 0u && p_hasOl() == 1u) { ${ol ? 'if (z > 0.0) { st_ol(r, m + log(z)); } else { stu_ol(r, NEG_INF_BITS); }' : ''} }`,
      threads: rows * Dt,
    },
  ]);
}
