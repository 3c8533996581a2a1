/**
 * MoE: DeepSeek-V2 routing (softmax, greedy or group-limited top-k) and the local experts' MLPs.
 */
import type { MoeRouteOptions, Tensor } from '@dcp/backend';
import { need } from './dense.js';
import { alloc, dispose } from './memory.js';
import { run } from './run.js';
import { arg, count, type Owner } from './tensor.js';

const SILU =
  'fn silu(g: f32) -> f32 { if (g >= 0.0) { return g / (1.0 + exp(-g)); } let e = exp(g); return g * e / (1.0 + e); }';

/** Softmax routing with top-k (ties → lower expert id). */
export function moeRoute(o: Owner, logitsT: Tensor, r: MoeRouteOptions, idsT: Tensor, wT: Tensor): void {
  const logits = arg(logitsT, 'moeRoute logits');
  const ids = arg(idsT, 'moeRoute ids');
  const w = arg(wT, 'moeRoute weights');
  need(logits.shape.length === 2, 'moeRoute logits: must be [n, E]');
  const [n, E] = logits.shape as [number, number];
  const K = r.topK;
  need(Number.isInteger(K) && K >= 1 && K <= E, `moeRoute topK: must be in [1, ${E}], got ${K}`);
  need(E <= 512, `moeRoute: at most 512 experts, got ${E}`);
  need(ids.dtype === 'i32' && count(ids) === n * K, `moeRoute ids: must be i32 [${n}, ${K}]`);
  need(w.dtype === 'f32' && count(w) === n * K, `moeRoute weights: must be f32 [${n}, ${K}]`);
  const grouped = r.method === 'group_limited_greedy';
  need(grouped || r.method === 'greedy', `moeRoute method: unknown '${String(r.method)}'`);
  const nGroup = grouped ? (r.nGroup ?? 0) : 1;
  const topkGroup = grouped ? (r.topkGroup ?? 0) : 1;
  if (grouped) {
    need(
      Number.isInteger(nGroup) && nGroup >= 1 && nGroup <= 64 && E % nGroup === 0,
      `moeRoute nGroup: must divide ${E} experts (≤ 64 groups), got ${r.nGroup}`,
    );
    need(
      Number.isInteger(topkGroup) && topkGroup >= 1 && topkGroup <= nGroup,
      `moeRoute topkGroup: must be in [1, ${nGroup}], got ${r.topkGroup}`,
    );
  }
  run(o, [
    {
      binds: [
        { name: 'l', t: logits },
        { name: 'ids', t: ids, access: 'write' },
        { name: 'w', t: w, access: 'write' },
      ],
      params: [
        ['E', 'u', E],
        ['K', 'u', K],
        ['grp', 'u', grouped ? 1 : 0],
        ['ng', 'u', nGroup],
        ['tg', 'u', topkGroup],
        ['norm', 'u', r.normTopkProb && K > 1 ? 1 : 0],
        ['scale', 'f', r.routedScalingFactor],
      ],
      body: `  let base = i * p_E();
  var m = ld_l(base);
  for (var e = 1u; e < p_E(); e++) { m = max(m, ld_l(base + e)); }
  var s = 0.0;
  for (var e = 0u; e < p_E(); e++) { s += exp(ld_l(base + e) - m); }
  var keep: array<u32, 2>;
  keep[0] = 0xffffffffu; keep[1] = 0xffffffffu;
  let gs = p_E() / p_ng();
  if (p_grp() == 1u) {
    keep[0] = 0u; keep[1] = 0u;
    for (var k = 0u; k < p_tg(); k++) {
      var bg = 0xffffffffu; var bs = 0.0;
      for (var g = 0u; g < p_ng(); g++) {
        if ((keep[g >> 5u] & (1u << (g & 31u))) != 0u) { continue; }
        var gm = ld_l(base + g * gs);
        for (var e = 1u; e < gs; e++) { gm = max(gm, ld_l(base + g * gs + e)); }
        if (bg == 0xffffffffu || gm > bs) { bg = g; bs = gm; }
      }
      keep[bg >> 5u] |= 1u << (bg & 31u);
    }
  }
  var used: array<u32, 16>;
  var sum = 0.0;
  for (var k = 0u; k < p_K(); k++) {
    var be = 0xffffffffu; var bl = 0.0;
    for (var e = 0u; e < p_E(); e++) {
      let g = e / gs;
      if ((keep[g >> 5u] & (1u << (g & 31u))) == 0u) { continue; }
      if ((used[e >> 5u] & (1u << (e & 31u))) != 0u) { continue; }
      let v = ld_l(base + e);
      if (be == 0xffffffffu || v > bl) { be = e; bl = v; }
    }
    used[be >> 5u] |= 1u << (be & 31u);
    let sc = exp(bl - m) / s;
    sum += sc;
    st_ids(i * p_K() + k, i32(be));
    st_w(i * p_K() + k, sc);
  }
  for (var k = 0u; k < p_K(); k++) {
    let sc = ld_w(i * p_K() + k);
    if (p_norm() == 1u) { st_w(i * p_K() + k, sc / (sum + 1e-20)); } else { st_w(i * p_K() + k, sc * p_scale()); }
  }`,
      threads: n,
    },
  ]);
}

/** Dispatch + expert MLPs + weighted combine over the experts this rank holds. */
export function moeExperts(
  o: Owner,
  xT: Tensor,
  idsT: Tensor,
  wT: Tensor,
  guT: Tensor,
  dnT: Tensor,
  expertStart: number,
  outT: Tensor,
): void {
  const x = arg(xT, 'moeExperts x');
  const ids = arg(idsT, 'moeExperts ids');
  const w = arg(wT, 'moeExperts weights');
  const gu = arg(guT, 'moeExperts gateUp');
  const dn = arg(dnT, 'moeExperts down');
  const out = arg(outT, 'moeExperts out');
  need(
    gu.shape.length === 3 && dn.shape.length === 3,
    'moeExperts: gateUp [E, 2I, hidden] and down [E, hidden, I]',
  );
  const [El, twoI, hidden] = gu.shape as [number, number, number];
  const I = twoI / 2;
  need(
    dn.shape[0] === El && dn.shape[1] === hidden && dn.shape[2] === I,
    `moeExperts down: must be [${El}, ${hidden}, ${I}]`,
  );
  const n = count(x) / hidden;
  need(Number.isInteger(n) && count(out) === n * hidden, `moeExperts: x and out must be [n, ${hidden}]`);
  const K = n === 0 ? 0 : count(ids) / n;
  need(
    ids.dtype === 'i32' && Number.isInteger(K) && count(w) === n * K,
    'moeExperts: ids (i32) and weights must be [n, topK]',
  );
  need(Number.isInteger(expertStart), `moeExperts expertStart: must be an integer, got ${expertStart}`);
  if (n === 0) return;
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
