/**
 * WGSL of the MLA decode split kernel (host side and the algorithm: `decode.ts`). Generated per
 * plan with the inner loops unrolled in the text, so every accumulator is a named register.
 *
 * Cache reads go through `ldr(base, c)` (the raw chunk `c` — 8 elements — of a row) and
 * `unp(raw)` (to two `vec4<f32>`); `rowBase(row)` gives a row's `base` in the unit `ldr` takes.
 * Fast layouts read one `vec4<u32>` per chunk (16-bit) or two (f32) from `array<vec4<u32>>`
 * views of the cache buffers; the generic layout reads element by element from `array<u32>`.
 * A cache split over several buffers (`segments.ts`) picks the buffer per read with a `switch`.
 */

import { splitPrelude, splitPrologue } from './decode-prelude.js';
import { el, range, scoresPlain, scoresSubgroup, subgroupSetup, u } from './decode-scores.js';

/** How the kernel reads the cache. */
export interface CacheLayout {
  dtype: 'f32' | 'bf16' | 'f16';
  /** Rows start on 16 bytes and hold whole chunks: vector loads. */
  fast: boolean;
  /** Buffers the cache is split over. */
  segments: number;
  /** Units (vec4 for fast, u32 words otherwise) per buffer. */
  segUnits: number;
}

/** Sizes of one decode kernel. */
export interface DecodePlan {
  /** Invocations per workgroup. */
  NT: number;
  /** Heads per workgroup (4, 8 or 16) and head groups of 4. */
  HCP: number;
  HG: number;
  W: number;
  L: number;
  /** Chunks of 8 elements per cache row (key) and per value row. */
  NCH: number;
  NCV: number;
  /** Scores: subgroup path, lanes per key row, keys per lane, keys per tile. */
  sub: boolean;
  LPR: number;
  KPL: number;
  /** Heads per lane in the scores (4 or 8 or 16) and lane groups sharing a key row's heads. */
  HPL: number;
  NHH: number;
  TK: number;
  /** Value pass: units (4 heads × 8 columns) per key, key slots, units per lane. */
  UNITS: number;
  KS: number;
  UPL: number;
  cache: CacheLayout;
  qDtype: 'f32' | 'bf16' | 'f16';
  tune: DecodeTune;
}

/** Shape and latency hiding of the subgroup path's scores, and diagnostics. */
export interface DecodeTune {
  /** Lanes across one key row (4 or 8; at most the smallest subgroup size). */
  lpr: number;
  /** Keys per lane (each query value read from workgroup memory serves this many FMAs). */
  kpl: number;
  /** Heads per lane (4, 8 or 16; at most the heads per workgroup). */
  hpl: number;
  /** Chunks of each key row in flight per lane in the scores (divides the chunks per lane). */
  pf: number;
  /** Keys whose value chunks are loaded together in the value pass. */
  pvu: number;
  /** Diagnostics: leave out the value pass, or the cache reads and dot products of the scores. */
  skip?: 'pv' | 'scores';
}

const NT = 256;

/** The plan for `hcp` heads per workgroup. */
export function makePlan(
  hcp: number,
  W: number,
  L: number,
  sub: boolean,
  cache: CacheLayout,
  qDtype: DecodePlan['qDtype'],
  tune: Partial<DecodeTune> = {},
): DecodePlan {
  const HG = hcp / 4;
  const NCH = Math.ceil(W / 8);
  const LPR = sub ? (tune.lpr ?? 8) : 1;
  // All heads of the workgroup per lane; 4 keys per lane at 16 heads (registers), else 8.
  const HPL = sub ? Math.min(hcp, tune.hpl ?? hcp) : 4;
  const NHH = hcp / HPL;
  const KPL = sub ? (tune.kpl ?? (HPL >= 16 ? 4 : 8)) : 1;
  const TK = (NT / (LPR * NHH)) * KPL;
  const NCV = Math.ceil(L / 8);
  const UNITS = HG * NCV;
  const KS = UNITS <= NT ? Math.min(4, Math.floor(NT / UNITS)) : 1;
  const UPL = Math.ceil(UNITS / NT);
  const NI = Math.ceil(NCH / LPR);
  const pf = [tune.pf ?? 1, 3, 2, 1].find((x) => x >= 1 && NI % x === 0) ?? 1;
  const t: DecodeTune = {
    lpr: LPR,
    kpl: KPL,
    hpl: HPL,
    pf,
    pvu: Math.max(1, tune.pvu ?? 8),
    ...(tune.skip ? { skip: tune.skip } : {}),
  };
  return {
    NT,
    HCP: hcp,
    HG,
    W,
    L,
    NCH,
    NCV,
    sub,
    LPR,
    KPL,
    HPL,
    NHH,
    TK,
    UNITS,
    KS,
    UPL,
    cache,
    qDtype,
    tune: t,
  };
}

/** Workgroup memory of a plan in bytes. */
export function sharedBytes(p: DecodePlan): number {
  const nchp = Math.ceil(p.NCH / p.LPR) * p.LPR;
  const vec4s = nchp * 8 * p.HG + p.TK * p.HG + p.NT / 4 + 2 * p.HG;
  return 16 * vec4s + 4 * p.TK + 16;
}

function cacheCode(p: DecodePlan): string {
  const { dtype, fast, segments, segUnits } = p.cache;
  const arr = fast ? 'vec4<u32>' : 'u32';
  const lines = range(segments).map(
    (s) => `@group(0) @binding(${7 + s}) var<storage, read> C_${s}: array<${arr}>;`,
  );
  const cases = range(segments).map((s) =>
    s === segments - 1 ? `default: { return C_${s}[l]; }` : `case ${s}u: { return C_${s}[l]; }`,
  );
  lines.push(
    segments === 1
      ? `fn cw(v: u32) -> ${arr} { return C_0[v]; }`
      : `fn cw(v: u32) -> ${arr} { let s = v / ${u(segUnits)}; let l = v - s * ${u(segUnits)}; switch s { ${cases.join(' ')} } }`,
  );
  const lo = (x: string) => `bitcast<f32>(${x} << 16u)`;
  const hi = (x: string) => `bitcast<f32>(${x} & 0xffff0000u)`;
  if (fast && dtype === 'f32') {
    lines.push(
      'struct Rw { a: vec4<u32>, b: vec4<u32> }',
      'fn rowBase(r: u32) -> u32 { return (pu(10u) >> 2u) + r * (W >> 2u); }',
      'fn ldr(b: u32, c: u32) -> Rw { return Rw(cw(b + 2u * c), cw(b + 2u * c + 1u)); }',
      'fn unp(r: Rw) -> Ch { return Ch(bitcast<vec4<f32>>(r.a), bitcast<vec4<f32>>(r.b)); }',
    );
  } else if (fast) {
    const un =
      dtype === 'bf16'
        ? `Ch(vec4<f32>(${lo('r.x')}, ${hi('r.x')}, ${lo('r.y')}, ${hi('r.y')}), vec4<f32>(${lo('r.z')}, ${hi('r.z')}, ${lo('r.w')}, ${hi('r.w')}))`
        : 'Ch(vec4<f32>(unpack2x16float(r.x), unpack2x16float(r.y)), vec4<f32>(unpack2x16float(r.z), unpack2x16float(r.w)))';
    lines.push(
      'fn rowBase(r: u32) -> u32 { return (pu(10u) >> 3u) + r * (W >> 3u); }',
      'fn ldr(b: u32, c: u32) -> vec4<u32> { return cw(b + c); }',
      `fn unp(r: vec4<u32>) -> Ch { return ${un}; }`,
    );
  } else {
    // Element `x` of buffer `C_s` (x counted from the buffer's start).
    const one = (s: number, x: string) =>
      dtype === 'f32'
        ? `bitcast<f32>(C_${s}[${x}])`
        : `${dtype === 'bf16' ? 'bitcast<f32>' : 'unpack2x16float'}(((C_${s}[${x} >> 1u] >> ((${x} & 1u) * 16u)) & 0xffffu)${dtype === 'bf16' ? ' << 16u' : ''})${dtype === 'bf16' ? '' : '.x'}`;
    // The 8 elements of a chunk from buffer s (a chunk never crosses buffers: they hold whole rows).
    const fill = (s: number, first: string) =>
      `for (var i = 0u; i < 8u; i++) { if (8u * c + i < W) { let x = ${first} + i; r[i] = ${one(s, 'x')}; } }`;
    const perWord = dtype === 'f32' ? 1 : 2;
    const body =
      segments === 1
        ? fill(0, 'e0')
        : `let s = e0 / ${u(perWord * segUnits)}; let x0 = e0 - s * ${u(perWord * segUnits)};
  switch s { ${range(segments)
    .map((k) => `${k === segments - 1 ? 'default' : `case ${k}u`}: { ${fill(k, 'x0')} }`)
    .join(' ')} }`;
    lines.push(
      'fn rowBase(r: u32) -> u32 { return r * W; }',
      `fn ldr(b: u32, c: u32) -> Ch {
  var r: array<f32, 8>;
  let e0 = pu(10u) + b + 8u * c;
  ${body}
  return Ch(vec4<f32>(r[0], r[1], r[2], r[3]), vec4<f32>(r[4], r[5], r[6], r[7]));
}`,
      'fn unp(r: Ch) -> Ch { return r; }',
    );
  }
  return lines.join('\n');
}

/** Value accumulation: unit = (4 heads, 8 columns); `acc(x, k, src)` lines for one key. */
function valuePass(p: DecodePlan): { decl: string; tile: string; final: string } {
  const xs = range(p.UPL);
  const iis = range(8);
  const decl: string[] = [];
  for (const x of xs) {
    if (p.UPL === 1) decl.push(`  let pu_0 = lid % ${u(p.UNITS)}; let pks = lid / ${u(p.UNITS)};`);
    else decl.push(`  let pu_${x} = lid + ${u(x * p.NT)};`);
    decl.push(
      `  let pon_${x} = ${p.UPL === 1 ? `pks < ${u(p.KS)}` : `pu_${x} < ${u(p.UNITS)}`};`,
      `  let pg_${x} = min(pu_${x} / ${u(p.NCV)}, ${u(p.HG - 1)}); let pch_${x} = pu_${x} % ${u(p.NCV)};`,
    );
    for (const ii of iis) decl.push(`  var a_${x}_${ii} = vec4<f32>(0.0);`);
  }
  if (p.UPL > 1) decl.push('  let pks = 0u;');
  const fmas = (x: number, pv: string, v: string) =>
    iis.map((ii) => `a_${x}_${ii} = fma(${pv}, vec4<f32>(${el(v, ii)}), a_${x}_${ii});`).join(' ');
  const tile: string[] = [];
  for (const x of xs) {
    tile.push(`    if (pon_${x}) {
      let al = alph[pg_${x}];
      ${iis.map((ii) => `a_${x}_${ii} *= al;`).join(' ')}`);
    if (p.UPL === 1) {
      const U = p.tune.pvu;
      const us = range(U);
      const key = (x: number) => (x === 0 ? 'k' : `k + ${u(x * p.KS)}`);
      tile.push(`      var k = pks;
      loop {
        if (k + ${u((U - 1) * p.KS)} >= cnt) { break; }
        ${us.map((x) => `let r${x} = ldr(kb[${key(x)}], pch_0);`).join(' ')}
        ${us.map((x) => `let p${x} = ps[(${key(x)}) * ${u(p.HG)} + pg_0];`).join(' ')}
        ${us.map((x) => `{ let v = unp(r${x}); ${fmas(0, `p${x}`, 'v')} }`).join('\n        ')}
        k += ${u(U * p.KS)};
      }
      loop {
        if (k >= cnt) { break; }
        let v0 = unp(ldr(kb[k], pch_0)); let p0 = ps[k * ${u(p.HG)} + pg_0]; ${fmas(0, 'p0', 'v0')}
        k += ${u(p.KS)};
      }
    }`);
    } else {
      tile.push(`      for (var k = 0u; k < cnt; k++) {
        let v0 = unp(ldr(kb[k], pch_${x})); let p0 = ps[k * ${u(p.HG)} + pg_${x}];
        ${fmas(x, 'p0', 'v0')}
      }
    }`);
    }
  }
  const final: string[] = [];
  for (let r = 1; r < p.KS; r++) {
    final.push(`  workgroupBarrier();
  if (pon_0 && pks == ${u(r)}) { ${iis.map((ii) => `qs[pu_0 * 8u + ${u(ii)}] = a_0_${ii};`).join(' ')} }
  workgroupBarrier();
  if (pon_0 && pks == 0u) { ${iis.map((ii) => `a_0_${ii} += qs[pu_0 * 8u + ${u(ii)}];`).join(' ')} }`);
  }
  final.push('  workgroupBarrier();');
  for (const x of xs) {
    const stores = iis
      .map((ii) => {
        const d = `8u * pch_${x} + ${u(ii)}`;
        const st = `PO[ob + ${u(ii)}] = a_${x}_${ii}[jj] * inv[jj];`;
        return p.L % 8 === 0 ? st : `if (${d} < ${u(p.L)}) { ${st} }`;
      })
      .join(' ');
    final.push(`  if (pon_${x} && pks == 0u) {
    let li = lsum[pg_${x}];
    let inv = select(vec4<f32>(0.0), vec4<f32>(1.0) / li, li > vec4<f32>(0.0));
    for (var jj = 0u; jj < 4u; jj++) {
      let h = h0 + 4u * pg_${x} + jj;
      if (h < H) { let ob = pu(14u) + ((t * H + h) * SP + s) * ${u(p.L)} + 8u * pch_${x}; ${stores} }
    }
  }`);
  }
  return { decl: decl.join('\n'), tile: tile.join('\n'), final: final.join('\n') };
}

/**
 * The split kernel: workgroup `wg` takes token t, split s (keys [s·chunk, (s+1)·chunk)) and
 * head chunk hc (fastest, so the chunks of one token read the same keys together and share L2).
 * Per tile of TK keys: scores into `ps`, the tile max per head, p = exp(s − m) with the running
 * rescale, then the values; the split's unnormalised output / l and m + log l go to PO / PL.
 */
export function decodeWgsl(p: DecodePlan): string {
  const { HCP, HG, NT, LPR } = p;
  const NCHP = Math.ceil(p.NCH / LPR) * LPR;
  const W8 = NCHP * 8;
  const PARTS = NT / HCP;
  const v = valuePass(p);
  const setup = p.sub ? subgroupSetup(p) : '';
  const sgArgs = p.sub ? ', @builtin(subgroup_invocation_id) sgl: u32, @builtin(subgroup_size) sgs: u32' : '';
  return `${p.sub ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n' : ''}${splitPrelude(p.qDtype)}
const W = ${u(p.W)};
struct Ch { a: vec4<f32>, b: vec4<f32> }
${cacheCode(p)}
var<workgroup> qs: array<vec4<f32>, ${W8 * HG}>;
var<workgroup> ps: array<vec4<f32>, ${p.TK * HG}>;
var<workgroup> red: array<vec4<f32>, ${NT / 4}>;
var<workgroup> alph: array<vec4<f32>, ${HG}>;
var<workgroup> lsum: array<vec4<f32>, ${HG}>;
var<workgroup> kb: array<u32, ${p.TK}>;
var<workgroup> info: vec2<u32>;
${p.sub ? 'var<workgroup> sgc: atomic<u32>;' : ''}
@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${sgArgs}) {
${splitPrologue(p.cache.segments, HCP)}
${
  p.sub
    ? `  var myid = 0u;
  if (sgl == 0u) { myid = atomicAdd(&sgc, 1u); }
  let wl = subgroupBroadcast(myid, 0u) * sgs + sgl;`
    : ''
}
  let inf = workgroupUniformLoad(&info);
  let row = inf.x;
  let start = s * pu(6u);
  let end = min(start + pu(6u), min(inf.y, MB * BS));
  let scale = bitcast<f32>(pu(8u));
  for (var e = lid; e < ${u(HCP * W8)}; e += ${u(NT)}) {
    let hh = e / ${u(W8)}; let d = e % ${u(W8)}; let h = h0 + hh;
    var v = 0.0;
    if (h < H && d < W) { v = ldq((t * H + h) * W + d) * scale; }
    let c = d / 8u;
    qs[((c / ${u(LPR)}) * 8u + d % 8u) * ${u(HG * LPR)} + (hh / 4u) * ${u(LPR)} + c % ${u(LPR)}][hh % 4u] = v;
  }
  let sh = lid % ${u(HCP)}; let spart = lid / ${u(HCP)};
  var m = NEGF; var lp = 0.0;
${v.decl}
${setup}
  workgroupBarrier();
  var k0 = start;
  loop {
    if (k0 >= end) { break; }
    let cnt = min(${u(p.TK)}, end - k0);
    {
${p.sub ? scoresSubgroup(p) : scoresPlain(p)}
    }
    workgroupBarrier();
    {
      var lm = NEGF;
      for (var k = spart; k < cnt; k += ${u(PARTS)}) { lm = max(lm, ps[k * ${u(HG)} + sh / 4u][sh % 4u]); }
      red[(sh * ${u(PARTS)} + spart) / 4u][spart % 4u] = lm;
    }
    workgroupBarrier();
    {
      var tm = NEGF;
      for (var x = 0u; x < ${u(PARTS / 4)}; x++) { let r = red[sh * ${u(PARTS / 4)} + x]; tm = max(tm, max(max(r.x, r.y), max(r.z, r.w))); }
      let mn = max(m, tm);
      let al = exp(m - mn);
      m = mn;
      var ls = 0.0;
      for (var k = spart; k < cnt; k += ${u(PARTS)}) {
        let ix = k * ${u(HG)} + sh / 4u;
        let pe = exp(ps[ix][sh % 4u] - mn);
        ps[ix][sh % 4u] = pe;
        ls += pe;
      }
      lp = lp * al + ls;
      if (spart == 0u) { alph[sh / 4u][sh % 4u] = al; }
    }
    workgroupBarrier();
${p.tune.skip === 'pv' ? '' : v.tile}
    workgroupBarrier();
    k0 += ${u(p.TK)};
  }
  red[(sh * ${u(PARTS)} + spart) / 4u][spart % 4u] = lp;
  workgroupBarrier();
  if (lid < ${u(HCP)}) {
    var l = 0.0;
    for (var x = 0u; x < ${u(PARTS / 4)}; x++) { let r = red[lid * ${u(PARTS / 4)} + x]; l += r.x + r.y + r.z + r.w; }
    lsum[lid / 4u][lid % 4u] = l;
    let h = h0 + lid;
    if (h < H) {
      let r = pu(15u) + (t * H + h) * SP + s;
      if (l > 0.0) { PL[r] = bitcast<u32>(m + log(l)); } else { PL[r] = 0xff800000u; }
    }
  }
${v.final}
}`;
}
