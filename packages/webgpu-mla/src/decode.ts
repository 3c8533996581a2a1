/**
 * MLA decode over the paged latent cache, split-KV (flash-decoding): each workgroup takes one
 * token, a chunk of heads and a contiguous range of its keys, keeps the chunk's scaled queries
 * in workgroup memory, and streams the cache in tiles — scores (one invocation per head × key),
 * an online softmax per head, then the value accumulation with each invocation owning a few
 * output columns of every head. A second pass merges the splits with their LSEs.
 */
import type { DecodeMeta, Tensor } from '@dcp/backend';
import { wordAt } from './bindings.js';
import { need } from './dense.js';
import { alloc, dispose } from './memory.js';
import { run } from './run.js';
import { arg, count, type Owner, type WebGpuTensor } from './tensor.js';

const NT = 256;

/**
 * Heads per workgroup: 4, 8 or 16 (the smallest covering H, else the largest) whose scaled
 * queries fit in workgroup memory next to the score tile.
 */
function headsPerGroup(H: number, W: number, maxBytes: number): number {
  const fits = (hc: number) => hc * W * 4 + 4096 + 1024 <= maxBytes;
  need(fits(4), `mlaDecode: latent width ${W} does not fit in workgroup memory (${maxBytes} bytes)`);
  let hc = 4;
  while (hc < 16 && hc < H && fits(hc * 2)) hc *= 2;
  return hc;
}

/**
 * WGSL of the cache loader `pair_c(e) -> vec2<f32>`: cache elements `e` and `e + 1` (`e` even
 * within a row, an element index of the cache view like `ld_c`'s). Decode kernels read the
 * cache only through `pair_c` and `ld_c` (the binding must be named `c`), so a cache split over
 * several buffers (`segments.ts`) or stored in any dtype needs no change in the kernel; for
 * wider raw reads, `wordAt(cache, 'c', w)` (bindings.ts) is the WGSL of packed word `w`. `fast`:
 * a row starts on a word (16-bit: even width and offset) so a pair is one packed word.
 */
export function pairLoader(cache: WebGpuTensor, fast: boolean): string {
  const dtype = cache.dtype;
  const w = (j: string) => wordAt(cache, 'c', j);
  if (!fast) return 'fn pair_c(e: u32) -> vec2<f32> { return vec2<f32>(ld_c(e), ld_c(e + 1u)); }';
  if (dtype === 'f32')
    return `fn pair_c(e: u32) -> vec2<f32> { let j = o_c() + e; return vec2<f32>(bitcast<f32>(${w('j')}), bitcast<f32>(${w('j + 1u')})); }`;
  const body =
    dtype === 'bf16'
      ? 'return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));'
      : 'return unpack2x16float(w);';
  return `fn pair_c(e: u32) -> vec2<f32> { let w = ${w('(o_c() + e) >> 1u')}; ${body} }`;
}

/** Scores and softmax, one invocation per (4 heads, key); one invocation per head for the softmax. */
const SCORES_PLAIN = (W: number) => `    let g = lid / TK; let kk = lid % TK;
    var sc = vec4<f32>(-3.0e38);
    if (kk < cnt) {
      sc = vec4<f32>(0.0);
      let kb = kbase[kk];
      for (var d2 = 0u; d2 < ${Math.floor(W / 2)}u; d2++) {
        let kv = pair_c(kb + 2u * d2);
        sc += qs[(2u * d2) * HG + g] * kv.x + qs[(2u * d2 + 1u) * HG + g] * kv.y;
      }
      ${W % 2 === 1 ? 'sc += qs[(W - 1u) * HG + g] * ld_c(kb + W - 1u);' : ''}
    }
    ps[kk * HG + g] = sc;
    workgroupBarrier();
    if (lid < HC) {
      let pg = lid / 4u; let pj = lid % 4u;
      var mt = mrun[lid];
      for (var k = 0u; k < cnt; k++) { mt = max(mt, ps[k * HG + pg][pj]); }
      let a = exp(mrun[lid] - mt);
      var sum = 0.0;
      for (var k = 0u; k < cnt; k++) { let p = exp(ps[k * HG + pg][pj] - mt); ps[k * HG + pg][pj] = p; sum += p; }
      lrun[lid] = lrun[lid] * a + sum;
      mrun[lid] = mt;
      alpha[lid] = a;
    }
    workgroupBarrier();`;

/**
 * Scores with subgroups: one subgroup per key, its lanes across the latent (coalesced loads of
 * two elements), `subgroupAdd` per 4 heads; then one subgroup per head for the tile's softmax
 * (`subgroupMax`/`subgroupAdd` over the keys). Queries are stored head-group-major here.
 */
const SCORES_SUBGROUP = (W: number) => `    let nsg = ${NT}u / sgs; let sg = lid / sgs;
    for (var kk = sg; kk < cnt; kk += nsg) {
      let kb = kbase[kk];
      var part: array<vec4<f32>, HG>;
      // Zeroed explicitly: an implementation was seen keeping the previous iteration's values.
      for (var g = 0u; g < HG; g++) { part[g] = vec4<f32>(0.0); }
      for (var d2 = sgl; d2 < ${Math.floor(W / 2)}u; d2 += sgs) {
        let kv = pair_c(kb + 2u * d2);
        for (var g = 0u; g < HG; g++) { part[g] += qs[g * W + 2u * d2] * kv.x + qs[g * W + 2u * d2 + 1u] * kv.y; }
      }
      ${W % 2 === 1 ? 'if (sgl == 0u) { for (var g = 0u; g < HG; g++) { part[g] += qs[g * W + W - 1u] * ld_c(kb + W - 1u); } }' : ''}
      for (var g = 0u; g < HG; g++) {
        let s4 = subgroupAdd(part[g]);
        if (sgl == 0u) { ps[kk * HG + g] = s4; }
      }
    }
    workgroupBarrier();
    for (var hh = sg; hh < HC; hh += nsg) {
      let pg = hh / 4u; let pj = hh % 4u;
      var lm = -3.0e38;
      for (var k = sgl; k < cnt; k += sgs) { lm = max(lm, ps[k * HG + pg][pj]); }
      let m0 = mrun[hh];
      let mt = max(m0, subgroupMax(lm));
      let a = exp(m0 - mt);
      var ls = 0.0;
      for (var k = sgl; k < cnt; k += sgs) { let p = exp(ps[k * HG + pg][pj] - mt); ps[k * HG + pg][pj] = p; ls += p; }
      let sum = subgroupAdd(ls);
      if (sgl == 0u) { lrun[hh] = lrun[hh] * a + sum; mrun[hh] = mt; alpha[hh] = a; }
    }
    workgroupBarrier();`;

/**
 * The split kernel. Scores: invocation (g, k) computes 4 heads × 1 key, reading the key two
 * elements at a time and the 4 heads' query values as one vec4 (queries stored dim-major).
 * Values: invocation owns column pairs (2·lid, 2·lid + 1) + 512·c for every head, with the
 * softmax weights of 4 heads read as one vec4.
 */
function splitKernel(
  HC: number,
  W: number,
  L: number,
  pair: string,
  sub: boolean,
): { decl: string; body: string } {
  const HG = HC / 4;
  const TK = NT / HG;
  const MAXC = Math.max(1, Math.ceil(L / (2 * NT)));
  const decl = `const HC = ${HC}u; const HG = ${HG}u; const TK = ${TK}u; const W = ${W}u; const L = ${L}u;
var<workgroup> qs: array<vec4<f32>, ${W * HG}>;
var<workgroup> ps: array<vec4<f32>, ${TK * HG}>;
var<workgroup> mrun: array<f32, ${HC}>;
var<workgroup> lrun: array<f32, ${HC}>;
var<workgroup> alpha: array<f32, ${HC}>;
var<workgroup> kbase: array<u32, ${TK}>;
var<workgroup> info: vec2<u32>;
${pair}`;
  const body = `  let per = p_nhc() * p_sp();
  let t = wg / per; let hc = (wg % per) / p_sp(); let s = wg % p_sp();
  let h0 = hc * HC;
  if (lid == 0u) {
    var row = t;
    if (p_hasRow() == 1u) { row = u32(max(ld_row(t), 0)); }
    info = vec2<u32>(row, u32(max(ld_len(t), 0)));
  }
  let inf = workgroupUniformLoad(&info);
  let row = inf.x;
  let start = s * p_chunk();
  let end = min(start + p_chunk(), min(inf.y, p_mb() * p_B()));
  for (var e = lid; e < HC * W; e += ${NT}u) {
    let hh = e / W; let d = e % W; let h = h0 + hh;
    var v = 0.0;
    if (h < p_H()) { v = ld_q((t * p_H() + h) * W + d) * p_scale(); }
    ${sub ? 'qs[(hh / 4u) * W + d][hh % 4u] = v;' : 'qs[d * HG + hh / 4u][hh % 4u] = v;'}
  }
  if (lid < HC) { mrun[lid] = -3.0e38; lrun[lid] = 0.0; }
  var acc: array<vec4<f32>, ${2 * MAXC * HG}>;
  workgroupBarrier();
  var k0 = start;
  loop {
    if (k0 >= end) { break; }
    let cnt = min(TK, end - k0);
    if (lid < cnt) {
      let j = k0 + lid;
      let blk = u32(ld_bt(row * p_mb() + j / p_B()));
      kbase[lid] = (blk * p_B() + j % p_B()) * W;
    }
    workgroupBarrier();
${sub ? SCORES_SUBGROUP(W) : SCORES_PLAIN(W)}
    for (var gg = 0u; gg < HG; gg++) {
      let a4 = vec4<f32>(alpha[4u * gg], alpha[4u * gg + 1u], alpha[4u * gg + 2u], alpha[4u * gg + 3u]);
      for (var c = 0u; c < ${2 * MAXC}u; c++) { acc[c * HG + gg] *= a4; }
    }
    for (var k = 0u; k < cnt; k++) {
      let kb = kbase[k];
      for (var c = 0u; c < ${MAXC}u; c++) {
        let d = 2u * (lid + c * ${NT}u);
        if (d < L) {
          var vv = vec2<f32>(ld_c(kb + d), 0.0);
          if (d + 1u < L) { vv = pair_c(kb + d); }
          for (var gg = 0u; gg < HG; gg++) {
            let pk = ps[k * HG + gg];
            acc[(2u * c) * HG + gg] += pk * vv.x;
            acc[(2u * c + 1u) * HG + gg] += pk * vv.y;
          }
        }
      }
    }
    workgroupBarrier();
    k0 += TK;
  }
  for (var hh = 0u; hh < HC; hh++) {
    if (h0 + hh >= p_H()) { break; }
    let r = (t * p_H() + h0 + hh) * p_sp() + s;
    let l = lrun[hh];
    let gg = hh / 4u; let j = hh % 4u;
    for (var c = 0u; c < ${MAXC}u; c++) {
      for (var jj = 0u; jj < 2u; jj++) {
        let d = 2u * (lid + c * ${NT}u) + jj;
        if (d < L) { st_po(r * L + d, select(0.0, acc[(2u * c + jj) * HG + gg][j] / l, l > 0.0)); }
      }
    }
    if (lid == 0u) {
      if (l > 0.0) { st_pl(r, mrun[hh] + log(l)); } else { stu_pl(r, NEG_INF_BITS); }
    }
  }`;
  return { decl, body };
}

const COMBINE = `  let d = i % p_L(); let r = i / p_L();
  var m = -3.0e38; var any = false;
  for (var s = 0u; s < p_sp(); s++) {
    let b = ldu_pl(r * p_sp() + s);
    if (finite_bits(b)) { m = max(m, bitcast<f32>(b)); any = true; }
  }
  var acc = 0.0; var z = 0.0;
  for (var s = 0u; s < p_sp(); s++) {
    let b = ldu_pl(r * p_sp() + s);
    if (!finite_bits(b)) { continue; }
    let w = exp(bitcast<f32>(b) - m);
    z += w;
    acc += w * ld_po((r * p_sp() + s) * p_L() + d);
  }
  if (any) { st_o(i, acc / z); } else { st_o(i, 0.0); }
  if (d == 0u) { if (any) { st_lse(r, m + log(z)); } else { stu_lse(r, NEG_INF_BITS); } }`;

/** MLA decode with LSE (natural log) over this rank's paged cache. */
export function mlaDecode(
  o: Owner,
  qT: Tensor,
  cacheT: Tensor,
  meta: DecodeMeta,
  scale: number,
  outT: Tensor,
  lseT: Tensor,
): void {
  const q = arg(qT, 'mlaDecode q');
  const cache = arg(cacheT, 'mlaDecode cache');
  const bt = arg(meta.blockTable, 'mlaDecode blockTable');
  const lens = arg(meta.seqLens, 'mlaDecode seqLens');
  const rowT = meta.tokenToRow ? arg(meta.tokenToRow, 'mlaDecode tokenToRow') : null;
  const out = arg(outT, 'mlaDecode out');
  const lse = arg(lseT, 'mlaDecode lse');
  need(cache.shape.length === 3, 'mlaDecode cache: must be [numBlocks, blockSize, width]');
  const [, B, W] = cache.shape as [number, number, number];
  need(q.shape.length === 3 && q.shape[2] === W, `mlaDecode q: must be [n, H, ${W}]`);
  const [n, H] = q.shape as [number, number];
  need(
    out.shape.length === 3 && out.shape[0] === n && out.shape[1] === H,
    `mlaDecode out: must be [${n}, ${H}, kvLoraRank]`,
  );
  const L = out.shape[2]!;
  need(L <= W, `mlaDecode out: kvLoraRank ${L} exceeds the cache width ${W}`);
  need(lse.dtype === 'f32' && count(lse) === n * H, `mlaDecode lse: must be f32 [${n}, ${H}]`);
  need(bt.dtype === 'i32' && bt.shape.length === 2, 'mlaDecode blockTable: must be i32 [numReqs, maxBlocks]');
  need(lens.dtype === 'i32' && count(lens) === n, `mlaDecode seqLens: must be i32 [${n}]`);
  need(!rowT || (rowT.dtype === 'i32' && count(rowT) === n), `mlaDecode tokenToRow: must be i32 [${n}]`);
  need(Number.isFinite(scale), `mlaDecode scale: must be finite, got ${scale}`);
  if (n === 0 || H === 0) return;
  const mb = bt.shape[1]!;
  const HC = headsPerGroup(H, W, o.gpu.maxWorkgroupStorage);
  const TK = NT / (HC / 4);
  const nhc = Math.ceil(H / HC);
  const maxKeys = Math.max(1, mb * B);
  const want = Math.ceil(o.gpu.targetGroups / (n * nhc));
  const sp = Math.max(1, Math.min(want, Math.ceil(maxKeys / TK), 64));
  const chunk = Math.ceil(maxKeys / sp / TK) * TK;
  const po = alloc(o, [n * H * sp * L], 'f32', 'mlaDecode partials');
  const pl = alloc(o, [n * H * sp], 'f32', 'mlaDecode partial LSE');
  const fast = cache.dtype === 'f32' || (W % 2 === 0 && cache.offset % 2 === 0);
  const sub = o.gpu.subgroups;
  const k = splitKernel(HC, W, L, pairLoader(cache, fast), sub);
  run(o, [
    {
      binds: [
        { name: 'q', t: q },
        { name: 'c', t: cache },
        { name: 'bt', t: bt },
        { name: 'len', t: lens },
        { name: 'row', t: rowT ?? lens },
        { name: 'po', t: po, access: 'write' },
        { name: 'pl', t: pl, access: 'write' },
      ],
      params: [
        ['H', 'u', H],
        ['B', 'u', B],
        ['mb', 'u', mb],
        ['nhc', 'u', nhc],
        ['sp', 'u', sp],
        ['chunk', 'u', chunk],
        ['hasRow', 'u', rowT ? 1 : 0],
        ['scale', 'f', scale],
      ],
      decl: k.decl,
      body: k.body,
      groups: n * nhc * sp,
      size: NT,
      subgroups: sub,
    },
    {
      binds: [
        { name: 'po', t: po },
        { name: 'pl', t: pl },
        { name: 'o', t: out, access: 'write' },
        { name: 'lse', t: lse, access: 'write' },
      ],
      params: [
        ['L', 'u', L],
        ['sp', 'u', sp],
      ],
      body: COMBINE,
      threads: n * H * L,
    },
  ]);
  dispose(o, po);
  dispose(o, pl);
}
