/**
 * MLA decode over the paged latent cache, split-KV (flash-decoding): each workgroup takes one
 * token, a chunk of heads and a contiguous range of its keys, keeps the chunk's scaled queries
 * in workgroup memory, and streams the cache in tiles — scores (one invocation per head × key),
 * an online softmax per head, then the value accumulation with each invocation owning a few
 * output columns of every head. A second pass merges the splits with their LSEs.
 */
import type { DecodeMeta, Tensor } from '@dcp/backend';
import { need } from './dense.js';
import { alloc, dispose } from './memory.js';
import { run } from './run.js';
import { arg, count, type Owner } from './tensor.js';

const NT = 256;

/** Heads per workgroup: a power of two ≤ 16 whose scaled queries fit in workgroup memory. */
function headsPerGroup(H: number, W: number, maxBytes: number): number {
  let hc = 1;
  while (hc * 2 <= Math.min(H, 16) && hc * 2 * W * 4 + 4096 <= maxBytes) hc *= 2;
  need(
    hc * W * 4 + 4096 <= maxBytes,
    `mlaDecode: latent width ${W} does not fit in workgroup memory (${maxBytes} bytes)`,
  );
  return hc;
}

function splitKernel(HC: number, W: number, L: number): { decl: string; body: string } {
  const TK = NT / HC;
  const MAXC = Math.max(1, Math.ceil(L / NT));
  const decl = `const HC = ${HC}u; const TK = ${TK}u; const W = ${W}u; const L = ${L}u; const MAXC = ${MAXC}u;
var<workgroup> qs: array<f32, ${HC * W}>;
var<workgroup> ps: array<f32, ${HC * TK}>;
var<workgroup> mrun: array<f32, ${HC}>;
var<workgroup> lrun: array<f32, ${HC}>;
var<workgroup> alpha: array<f32, ${HC}>;
var<workgroup> kbase: array<u32, ${TK}>;
var<workgroup> info: vec2<u32>;`;
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
    let h = h0 + e / W;
    var v = 0.0;
    if (h < p_H()) { v = ld_q((t * p_H() + h) * W + e % W) * p_scale(); }
    qs[e] = v;
  }
  if (lid < HC) { mrun[lid] = -3.0e38; lrun[lid] = 0.0; }
  var acc: array<f32, ${HC * MAXC}>;
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
    let hh = lid / TK; let kk = lid % TK;
    var sc = -3.0e38;
    if (kk < cnt) {
      sc = 0.0;
      let kb = kbase[kk];
      for (var d = 0u; d < W; d++) { sc += qs[hh * W + d] * ld_c(kb + d); }
    }
    ps[hh * TK + kk] = sc;
    workgroupBarrier();
    if (lid < HC) {
      var mt = mrun[lid];
      for (var k = 0u; k < cnt; k++) { mt = max(mt, ps[lid * TK + k]); }
      let a = exp(mrun[lid] - mt);
      var sum = 0.0;
      for (var k = 0u; k < cnt; k++) { let p = exp(ps[lid * TK + k] - mt); ps[lid * TK + k] = p; sum += p; }
      lrun[lid] = lrun[lid] * a + sum;
      mrun[lid] = mt;
      alpha[lid] = a;
    }
    workgroupBarrier();
    for (var h = 0u; h < HC; h++) {
      for (var c = 0u; c < MAXC; c++) { acc[h * MAXC + c] *= alpha[h]; }
    }
    for (var k = 0u; k < cnt; k++) {
      let kb = kbase[k];
      for (var c = 0u; c < MAXC; c++) {
        let d = lid + c * ${NT}u;
        if (d < L) {
          let v = ld_c(kb + d);
          for (var h = 0u; h < HC; h++) { acc[h * MAXC + c] += ps[h * TK + k] * v; }
        }
      }
    }
    workgroupBarrier();
    k0 += TK;
  }
  for (var h = 0u; h < HC; h++) {
    if (h0 + h >= p_H()) { break; }
    let r = (t * p_H() + h0 + h) * p_sp() + s;
    let l = lrun[h];
    for (var c = 0u; c < MAXC; c++) {
      let d = lid + c * ${NT}u;
      if (d < L) { st_po(r * L + d, select(0.0, acc[h * MAXC + c] / l, l > 0.0)); }
    }
    if (lid == 0u) {
      if (l > 0.0) { st_pl(r, mrun[h] + log(l)); } else { stu_pl(r, NEG_INF_BITS); }
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
  const TK = NT / HC;
  const nhc = Math.ceil(H / HC);
  const maxKeys = Math.max(1, mb * B);
  const want = Math.ceil(o.gpu.targetGroups / (n * nhc));
  const sp = Math.max(1, Math.min(want, Math.ceil(maxKeys / TK), 64));
  const chunk = Math.ceil(maxKeys / sp / TK) * TK;
  const po = alloc(o, [n * H * sp * L], 'f32', 'mlaDecode partials');
  const pl = alloc(o, [n * H * sp], 'f32', 'mlaDecode partial LSE');
  const k = splitKernel(HC, W, L);
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
