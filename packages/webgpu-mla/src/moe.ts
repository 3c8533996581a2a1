/**
 * MoE: DeepSeek-V2 routing (softmax, greedy or group-limited top-k) and the local experts' MLPs,
 * grouped by expert: a sort kernel lists each local expert's (token, k) pairs and cuts them into
 * row tiles, then the gate‖up product, SiLU·up, the down product (each expert's weights read once
 * per tile, not once per token) and a weighted combine back to token order.
 */
import type { MoeRouteOptions, Tensor } from '@dcp/backend';
import { setWord } from './bindings.js';
import { need, siluMul } from './dense.js';
import { gemvWordElems } from './gemv.js';
import { type MatmulState, matmul } from './matmul.js';
import type { MatmulSpec, TileRows } from './matmul-spec.js';
import { alloc, dispose } from './memory.js';
import { moeExpertsNaive } from './naive.js';
import { type Kernel, run } from './run.js';
import { arg, count, is16, type Owner, type WebGpuTensor } from './tensor.js';

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

/** Rows of a GEMV tile of the grouped products. */
const GEMV_TILE = 8;

/** Most local experts the sort kernel handles (its workgroup-memory counters). */
const MAX_LOCAL_EXPERTS = 1024;

/**
 * One workgroup: counts the local pairs of each expert, lays the experts' rows out in order
 * (`of`), lists row tiles of `tm` rows (`tl`), and writes each pair's grouped row (`ps`, −1 for
 * experts of other ranks) and each row's pair (`od`). Pairs keep their order inside an expert.
 */
function sortKernel(ids: WebGpuTensor, g: Grouping, P: number, El: number, e0: number) {
  return {
    binds: [
      { name: 'ids', t: ids },
      { name: 'tl', t: g.tiles.tiles, access: 'write' as const },
      { name: 'of', t: g.tiles.offs, access: 'write' as const },
      { name: 'od', t: g.tiles.ord!, access: 'write' as const },
      { name: 'ps', t: g.pos, access: 'write' as const },
    ],
    params: [
      ['P', 'u', P],
      ['el', 'u', El],
      ['e0', 'i', e0],
      ['tm', 'u', g.tiles.rows],
    ] as const,
    decl: `var<workgroup> sid: array<i32, 256>;
var<workgroup> cnt: array<u32, ${MAX_LOCAL_EXPERTS}>;
var<workgroup> cur: array<u32, ${MAX_LOCAL_EXPERTS}>;
fn local_expert(p: u32) -> i32 {
  if (p >= p_P()) { return -1; }
  let e = ld_ids(p) - p_e0();
  if (e < 0 || e >= i32(p_el())) { return -1; }
  return e;
}`,
    body: `  for (var e = lid; e < p_el(); e += 256u) { cnt[e] = 0u; }
  for (var base = 0u; base < p_P(); base += 256u) {
    workgroupBarrier();
    sid[lid] = local_expert(base + lid);
    workgroupBarrier();
    let m = min(256u, p_P() - base);
    for (var e = lid; e < p_el(); e += 256u) {
      var c = 0u;
      for (var q = 0u; q < m; q++) { if (sid[q] == i32(e)) { c++; } }
      cnt[e] += c;
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var off = 0u; var nt = 0u;
    for (var e = 0u; e < p_el(); e++) {
      st_of(e, i32(off)); cur[e] = off;
      for (var r = 0u; r < cnt[e]; r += p_tm()) {
        st_tl(1u + 2u * nt, i32(e)); st_tl(2u + 2u * nt, i32(off + r)); nt++;
      }
      off += cnt[e];
    }
    st_of(p_el(), i32(off)); st_tl(0u, i32(nt));
  }
  for (var base = 0u; base < p_P(); base += 256u) {
    workgroupBarrier();
    let le = local_expert(base + lid);
    sid[lid] = le;
    if (base + lid < p_P() && le < 0) { st_ps(base + lid, -1); }
    workgroupBarrier();
    let m = min(256u, p_P() - base);
    for (var e = lid; e < p_el(); e += 256u) {
      for (var q = 0u; q < m; q++) {
        if (sid[q] == i32(e)) { let d = cur[e]; st_od(d, i32(base + q)); st_ps(base + q, i32(d)); cur[e] = d + 1u; }
      }
    }
  }`,
    groups: 1,
    size: 256,
  };
}

interface Grouping {
  tiles: TileRows;
  /** i32 [P]: grouped row of each pair, or −1. */
  pos: WebGpuTensor;
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
  mm: MatmulState,
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
  if (mm.naive || El === 0 || I === 0) {
    moeExpertsNaive(o, { x, ids, w, gu, dn, out }, { n, K, I, hidden, El }, expertStart);
    return;
  }
  need(El <= MAX_LOCAL_EXPERTS, `moeExperts gateUp: at most ${MAX_LOCAL_EXPERTS} local experts, got ${El}`);
  const P = n * K;
  const scratch: WebGpuTensor[] = [];
  const buf = (shape: number[], dtype: 'i32' | 'f32') => {
    const t = alloc(o, shape, dtype, 'moeExperts scratch');
    scratch.push(t);
    return t;
  };
  const act = buf([P, I], 'f32');
  const y = buf([P, hidden], 'f32');
  const rows = { kind: 'tiles', tiles: y, offs: y, ord: y, topK: K, maxTiles: 0, rows: 0 } as TileRows;
  // GEMV: gate‖up and SiLU·up in one pass (gated); tiled: the product into h, then siluMul.
  const up: MatmulSpec = {
    x,
    w: gu,
    out: act,
    N: I,
    gated: I,
    K: hidden,
    xs: hidden,
    xz: 0,
    wsj: hidden,
    wsq: 1,
    wz: 2 * I * hidden,
    os: I,
    oz: 0,
    rows,
  };
  const down: MatmulSpec = {
    x: act,
    w: dn,
    out: y,
    N: hidden,
    K: I,
    xs: I,
    xz: 0,
    wsj: I,
    wsq: 1,
    wz: hidden * I,
    os: hidden,
    oz: 0,
    rows,
  };
  // At most one GEMV tile (8 rows) per expert on average: GEMV tiles, each expert's weights read
  // once per 8 of its rows; more rows: the tiled kernel, once per 64 or 128.
  const gemv = !mm.naive && P <= GEMV_TILE * El && gemvWordElems(up) > 0 && gemvWordElems(down) > 0;
  const tm = gemv ? GEMV_TILE : 16 * mm.gemmThread;
  const maxTiles = Math.ceil(P / tm) + Math.min(El, P);
  rows.tiles = buf([1 + 2 * maxTiles], 'i32');
  rows.offs = buf([El + 1], 'i32');
  rows.ord = buf([P], 'i32');
  rows.maxTiles = maxTiles;
  rows.rows = tm;
  const g: Grouping = { tiles: rows, pos: buf([P], 'i32') };
  run(o, [sortKernel(ids, g, P, El, expertStart)]);
  if (gemv) matmul(o, up, mm);
  else {
    const h = buf([P, 2 * I], 'f32');
    matmul(o, { ...up, out: h, N: 2 * I, os: 2 * I, gated: undefined }, mm);
    siluMul(o, h, act);
  }
  matmul(o, { ...down, rows: { ...rows, ord: null } }, mm);
  run(o, [combineKernel(y, g.pos, w, out, K, hidden)]);
  for (const t of scratch) dispose(o, t);
}

/**
 * `out[t, c] = Σ_k w[t, k] · y[pos[t, k], c]` over the local pairs; a 16-bit `out` on whole
 * words is written a word (two columns) per invocation, with no scratch or pack pass.
 */
function combineKernel(
  y: WebGpuTensor,
  pos: WebGpuTensor,
  w: WebGpuTensor,
  out: WebGpuTensor,
  K: number,
  hidden: number,
): Kernel {
  const n = count(out) / hidden;
  const packed = is16(out.dtype) && out.offset % 2 === 0 && hidden % 2 === 0;
  const cols = packed ? 2 : 1;
  const sum = (c: string) => `fn sum${c}(t: u32, c: u32) -> f32 {
  var acc = 0.0;
  for (var k = 0u; k < p_K(); k++) {
    let p = ld_ps(t * p_K() + k);
    if (p >= 0) { acc += ld_w(t * p_K() + k) * ld_y(u32(p) * p_hid() + c); }
  }
  return acc;
}`;
  return {
    binds: [
      { name: 'y', t: y },
      { name: 'ps', t: pos },
      { name: 'w', t: w },
      { name: 'd', t: out, access: packed ? 'raw' : 'write' },
    ],
    params: [
      ['K', 'u', K],
      ['hid', 'u', hidden],
    ],
    decl: sum(''),
    body: packed
      ? `  let t = i / (p_hid() / 2u); let c = 2u * (i % (p_hid() / 2u));
  ${setWord(out, 'd', '(o_d() + t * p_hid() + c) / 2u', 'to16_d(sum(t, c)) | (to16_d(sum(t, c + 1u)) << 16u)')}`
      : '  st_d(i, sum(i / p_hid(), i % p_hid()));',
    threads: (n * hidden) / cols,
  };
}
