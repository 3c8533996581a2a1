/**
 * WGSL of the streaming ("flash") MLA decode split kernel: each subgroup walks its own keys
 * with an online softmax and no workgroup barrier inside the loop. Host side, parameters and
 * outputs are those of the tiled kernel (`decode.ts`, `decode-kernel.ts`).
 *
 * One subgroup of S lanes holds HS heads (1, 2, 4 or 8; vectors of up to 4 heads) and takes K keys
 * per step (K·HS ≤ S):
 * - each lane reads its own words of each key row, every load instruction covering consecutive
 *   words of one row (pairs of value words per lane where the row allows, `FlashPlan.V`), so a
 *   step reads K whole rows exactly once;
 * - the lane's partial dot products (HS heads × K keys, its words only) are summed over the
 *   subgroup by a transposing butterfly that leaves score (k, h) on lanes (k·HS + h)·S/(K·HS)…;
 * - per-head running max and sum (each lane keeps those of its (k, h)), p = exp(s − m);
 * - the values: each lane owns the value columns of its own words and accumulates
 *   Σ p(k, h)·v(k) from the rows it already holds in registers, key by key (p broadcast from
 *   its lane when its key's turn comes).
 * A workgroup is several subgroups over interleaved key groups of the same split; they merge
 * their states (max, sum, accumulators) through workgroup memory at the end.
 */
import { headVec, laneWord, queryLoads, registerMerge, rowWordLoad, words } from './decode-flash-io.js';
import type { CacheLayout } from './decode-kernel.js';
import { splitPrelude, splitPrologue } from './decode-prelude.js';
import { range, transposingButterfly, u } from './decode-scores.js';

/** Sizes of one streaming kernel. */
export interface FlashPlan {
  /** Lanes per subgroup (the adapter's only subgroup size) and subgroups per workgroup. */
  S: number;
  NSG: number;
  /** Heads per workgroup (1, 2, 4 or 8) and keys per subgroup step. */
  HS: number;
  K: number;
  /** Load the next step's rows before this step's arithmetic (twice the row registers). */
  pf: boolean;
  /**
   * The cache's block size when it is a multiple of K (else 0): then a step's K keys (K-aligned:
   * splits are whole steps) share one block, one table lookup, and the block size is a constant.
   */
  bs: number;
  /**
   * Words per row load, 2 where the value words (L / elements per word) are a multiple of 2·S,
   * else 1. With V = 2 the cache is bound as `array<vec2<u32>>`: lane j owns value words
   * 2·S·c + 2j and + 1 of each chunk c of 2·S words (one 8-byte load), and each other (rope)
   * word j + S·w comes from an 8-byte load shared by 2 lanes, each taking its half. Half the
   * load instructions of V = 1, each bounds-checked under robustness: 1.05–1.15× faster on the
   * H200 (4 words per load measured slower than 1; tooling/bench/results/webgpu-h200.md).
   */
  V: 1 | 2;
  W: number;
  L: number;
  cache: CacheLayout;
  qDtype: 'f32' | 'bf16' | 'f16';
}

/** Whether the streaming kernel takes this cache and subgroup size (else the tiled kernel). */
export function flashFits(cache: CacheLayout, L: number, S: number): boolean {
  return cache.fast && L % 8 === 0 && S >= 8 && (S & (S - 1)) === 0;
}

/** The plan for `hs` heads per workgroup on subgroups of `S` lanes (K: the most keys that fit). */
export function makeFlashPlan(
  hs: number,
  S: number,
  W: number,
  L: number,
  cache: CacheLayout,
  qDtype: FlashPlan['qDtype'],
  opts: { k?: number; nsg?: number; pf?: boolean; blockSize?: number } = {},
): FlashPlan {
  const K = Math.max(1, Math.min(opts.k ?? 8, S / hs));
  const bs = opts.blockSize && opts.blockSize % K === 0 ? opts.blockSize : 0;
  const V = (cache.dtype === 'f32' ? L : L / 2) % (2 * S) === 0 ? 2 : 1;
  return { S, NSG: opts.nsg ?? 2, HS: hs, K, pf: opts.pf ?? false, bs, V, W, L, cache, qDtype };
}

/** Workgroup memory of a plan in bytes (queries, reused as the merge buffer; states). */
export function flashSharedBytes(p: FlashPlan): number {
  const { EPV, NW } = words(p);
  const { C, HG } = headVec(p);
  const q = NW * p.S * EPV * HG;
  return 4 * C * Math.max(q, HG * p.L) + 8 * p.NSG * p.HS + 16;
}

/** WGSL: element `i` (0..EPV-1) of the raw word `x` as f32. */
function elem(p: FlashPlan, x: string, i: number): string {
  if (p.cache.dtype === 'f32') return `bitcast<f32>(${x})`;
  if (p.cache.dtype === 'bf16')
    return i === 0 ? `bitcast<f32>(${x} << 16u)` : `bitcast<f32>(${x} & 0xffff0000u)`;
  return `unpack2x16float(${x})[${i}]`;
}

function cacheDecls(p: FlashPlan): string {
  return range(p.cache.segments)
    .map(
      (s) =>
        `@group(0) @binding(${7 + s}) var<storage, read> C_${s}: array<${p.V > 1 ? `vec${p.V}<u32>` : 'u32'}>;`,
    )
    .join('\n');
}

/**
 * The subgroup butterfly over the lane's K·HS partial scores (`s_<k>_<g>` head vectors): returns
 * WGSL leaving the full score of pair v = k·HS + h in `sc` on the lanes j with j >> SH == v.
 */
function butterfly(p: FlashPlan): string {
  const { C, at } = headVec(p);
  const vals = range(p.K).flatMap((k) => range(p.HS).map((h) => at(`s_${k}_${Math.floor(h / C)}`, h % C)));
  const { lines, sums } = transposingButterfly(vals, p.S / 2);
  return [...lines, `let sc = ${sums[0]};`].join('\n      ');
}

/** The kernel. */
export function flashWgsl(p: FlashPlan): string {
  const { S, NSG, HS, K, L } = p;
  const { C, HG, T } = headVec(p);
  const NT = S * NSG;
  const { EPV, WW, VW, NW } = words(p);
  const SH = Math.log2(S) - Math.log2(K * HS); // pair of lane j: j >> SH
  // Queries: slot (g·EPV + e)·NWS + word of head group g's element e of each word (a vector
  // over C heads): consecutive lanes read consecutive slots.
  const NWS = NW * S;
  const Q4 = NWS * EPV * HG;
  const ks = range(K);
  const ws = range(NW);
  const gs = range(HG);
  const es = range(EPV);
  const isVal = (w: number) =>
    S * (w + 1) <= VW ? 'true' : S * w >= VW ? 'false' : `(j + ${u(S * w)}) < ${u(VW)}`;
  const valWs = ws.filter((w) => S * w < VW);
  // Row bases `nb_<k>` of the keys at `k`, k + 1, … (assigned, declared before). Aligned plans:
  // one lookup per step, the block size a constant. Others: one division per step, a key's
  // block is k's or, past a block's end, a later one (0 past the split's end).
  const bases = (k: string) =>
    p.bs
      ? `if (${k} < end) { let kq = ${k} / ${u(p.bs)}; let rb = cb + (u32(max(BT[btb + kq], 0)) * ${u(p.bs)} + ${k} - kq * ${u(p.bs)}) * ${u(WW)};
      ${ks.map((x) => `nb_${x} = rb${x ? ` + ${u(x * WW)}` : ''};`).join(' ')} }`
      : `{ let kq = ${k} / BS; let kr = ${k} - kq * BS;
      ${ks
        .map(
          (x) =>
            `nb_${x} = 0u; if (${k} + ${u(x)} < end) { let rr = kr + ${u(x)}; var bi = kq; var bo = rr; if (rr >= BS) { bi = kq + rr / BS; bo = rr % BS; } nb_${x} = cb + (u32(max(BT[btb + bi], 0)) * BS + bo) * ${u(WW)}; }`,
        )
        .join('\n      ')} }`;
  // Loads the rows of the keys at `k`, … from bases `<b>_<k>` into `<x>_<k>_<w>` (assigned). A row
  // never crosses buffers, so a split cache picks the buffer once per row (one switch per key).
  const segs = p.cache.segments;
  const segSize = p.cache.segUnits * 4; // words of a buffer
  const rowLoads = (kk: number, b: string, x: string, buf: string) =>
    ws.map((w) => rowWordLoad(p, w, b, `${x}_${kk}`, buf)).join(' ');
  const rows = (k: string, b: string, x: string) =>
    ks
      .map((kk) => {
        const load =
          segs === 1
            ? rowLoads(kk, `${b}_${kk}`, x, 'C_0')
            : `let sg = ${b}_${kk} / ${u(segSize)}; let lb = ${b}_${kk} - sg * ${u(segSize)};
        switch sg { ${range(segs)
          .map((g) => `${g === segs - 1 ? 'default' : `case ${g}u`}: { ${rowLoads(kk, 'lb', x, `C_${g}`)} }`)
          .join('\n          ')} }`;
        return `${ws.map((w) => `${x}_${kk}_${w} = 0u;`).join(' ')}
      if (${k} + ${u(kk)} < end) { ${load} }`;
      })
      .join('\n      ');
  const decl = (x: string) => ks.flatMap((k) => ws.map((w) => `var ${x}_${k}_${w} = 0u;`)).join(' ');
  const stepStart = p.pf
    ? `${ks.map((k) => `let b_${k} = nb_${k};`).join(' ')}
      ${ks.flatMap((k) => ws.map((w) => `let x_${k}_${w} = nx_${k}_${w};`)).join(' ')}
      let k1 = k0 + ${u(NSG * K)};
      ${bases('k1')}
      ${rows('k1', 'nb', 'nx')}`
    : `${ks.map((k) => `let b_${k} = nb_${k};`).join(' ')}
      let k1 = k0 + ${u(NSG * K)};
      ${bases('k1')}
      ${decl('x')}
      ${rows('k0', 'b', 'x')}`;
  const scores: string[] = [];
  for (const k of ks) for (const g of gs) scores.push(`var s_${k}_${g} = ${T}(0.0);`);
  for (const w of ws) {
    const blocks: string[] = [];
    for (const e of es) {
      const lines: string[] = [];
      for (const g of gs) {
        lines.push(`let q_${g} = qs[${u((g * EPV + e) * NWS + w * S)} + j];`);
        for (const k of ks)
          lines.push(`s_${k}_${g} = fma(q_${g}, ${T}(${elem(p, `x_${k}_${w}`, e)}), s_${k}_${g});`);
      }
      blocks.push(`{ ${lines.join(' ')} }`);
    }
    scores.push(blocks.join(' '));
  }
  // Values: accumulators a_<g>_<w>_<e> (a vector over C heads) for the lane's value words.
  const accDecl = valWs.flatMap((w) => gs.flatMap((g) => es.map((e) => `var a_${g}_${w}_${e} = ${T}(0.0);`)));
  const pv: string[] = [];
  // p(k, h) from lane (k·HS + h) << SH; alpha(h) from lane h << SH.
  for (const g of gs) {
    pv.push(
      `let al_${g} = ${T}(${range(C)
        .map((c) => `subgroupBroadcast(al, ${u((C * g + c) << SH)})`)
        .join(', ')});`,
    );
  }
  const pOf = (k: number, g: number) =>
    `let p_${k}_${g} = ${T}(${range(C)
      .map((c) => `subgroupBroadcast(pe, ${u((k * HS + C * g + c) << SH)})`)
      .join(', ')});`;
  const guarded = (w: number, body: string[]) => {
    const cond = isVal(w);
    return cond === 'true' ? body.join(' ') : `if (${cond}) { ${body.join(' ')} }`;
  };
  const acc = (g: number, w: number, e: number) => `a_${g}_${w}_${e}`;
  // Keys outer: only one key's p is live at a time (the rescale first, then key by key: the
  // same operations in the same order as one fma chain per accumulator).
  for (const w of valWs)
    pv.push(
      guarded(
        w,
        gs.flatMap((g) => es.map((e) => `${acc(g, w, e)} *= al_${g};`)),
      ),
    );
  for (const k of ks) {
    for (const g of gs) pv.push(pOf(k, g));
    for (const w of valWs)
      pv.push(
        guarded(
          w,
          gs.flatMap((g) =>
            es.map(
              (e) =>
                `${acc(g, w, e)} = fma(p_${k}_${g}, ${T}(${elem(p, `x_${k}_${w}`, e)}), ${acc(g, w, e)});`,
            ),
          ),
        ),
      );
  }
  // Sum over the key bits of the pair (offsets S/2 … S/K): a head's max and sum over its keys.
  const keyOffsets = range(Math.log2(K)).map((i) => S / 2 ** (i + 1));
  const xorMax = (v: string) =>
    keyOffsets.map((o) => `${v} = max(${v}, subgroupShuffleXor(${v}, ${u(o)}));`).join(' ');
  const xorSum = (v: string) => keyOffsets.map((o) => `${v} += subgroupShuffleXor(${v}, ${u(o)});`).join(' ');
  // The merge: every lane of every subgroup adds f·acc of its value words into ob (= qs).
  const merge = valWs.map((w) => {
    const body = gs
      .flatMap((g) =>
        es.map(
          (e) =>
            `{ let ix = ${u(g)} * ${u(L)} + (${laneWord(p, w)}) * ${u(EPV)} + ${u(e)}; let v = f_${g} * a_${g}_${w}_${e}; if (r == 0u) { qs[ix] = v; } else { qs[ix] += v; } }`,
        ),
      )
      .join(' ');
    const cond = isVal(w);
    return cond === 'true' ? body : `if (${cond}) { ${body} }`;
  });
  return `enable subgroups;
diagnostic(off, subgroup_uniformity);
${splitPrelude(p.qDtype)}
${cacheDecls(p)}
var<workgroup> qs: array<${T}, ${Math.max(Q4, HG * L)}>;
var<workgroup> sm: array<f32, ${NSG * HS}>;
var<workgroup> sl: array<f32, ${NSG * HS}>;
var<workgroup> info: vec2<u32>;
var<workgroup> sgc: atomic<u32>;
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) j: u32) {
${splitPrologue(p.cache.segments, HS)}
  var myid = 0u;
  if (j == 0u) { myid = atomicAdd(&sgc, 1u); }
  let sid = subgroupBroadcast(myid, 0u);
  let inf = workgroupUniformLoad(&info);
  let row = inf.x;
  let start = s * pu(6u);
  let end = min(start + pu(6u), min(inf.y, MB * BS));
  let scale = bitcast<f32>(pu(8u));
  let cb = pu(10u) / ${u(EPV)}; let btb = pu(11u) + row * MB;
  ${queryLoads(p, NT, NWS)}
  workgroupBarrier();
  // The lane's pair (k, h) of the butterfly, its head's running max and its pair's running sum.
  let pk = (j >> ${u(SH)}) / ${u(HS)}; let ph = (j >> ${u(SH)}) % ${u(HS)};
  var m = NEGF; var l = 0.0;
  ${accDecl.join(' ')}
  // Bases (and with pf the rows) of the next step are loaded before this step's arithmetic.
  var k0 = start + sid * ${u(K)};
  ${ks.map((k) => `var nb_${k} = 0u;`).join(' ')}
  ${bases('k0')}
  ${
    p.pf
      ? `${decl('nx')}
  ${rows('k0', 'nb', 'nx')}`
      : ''
  }
  loop {
      if (k0 >= end) { break; }
      ${stepStart}
      ${scores.join('\n      ')}
      ${butterfly(p)}
      // Pair (pk, ph): the key may lie past the split's end.
      let sv = select(NEGF, sc, k0 + pk < end);
      var tm = sv; ${xorMax('tm')}
      let mn = max(m, tm);
      let al = exp(m - mn);
      let pe = exp(sv - mn);
      m = mn;
      l = l * al + pe;
      ${pv.join('\n      ')}
      k0 = k1;
  }
  ${xorSum('l')}
  // Subgroup states to workgroup memory: lanes of pair (0, h) with the lowest duplicate bits.
  workgroupBarrier();
  if (pk == 0u && (j & ${u((1 << SH) - 1)}) == 0u) { sm[sid * ${u(HS)} + ph] = m; sl[sid * ${u(HS)} + ph] = l; }
  workgroupBarrier();
${registerMerge(p, merge)}
}`;
}
