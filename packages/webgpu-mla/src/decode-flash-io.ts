/**
 * The streaming decode kernel's WGSL around its key loop (`decode-flash.ts`): the lane-word
 * geometry of a row (which words a lane holds, and its loads), the query prologue and the merge
 * of the subgroups' register accumulators.
 */
import type { FlashPlan } from './decode-flash.js';
import { range, u } from './decode-scores.js';

/**
 * Words (u32) of one cache row (`WW`), its value words (`VW`: the first L elements), words per
 * lane, and the elements one word holds (`EPV`).
 */
export function words(p: FlashPlan) {
  const EPV = p.cache.dtype === 'f32' ? 1 : 2;
  const WW = p.W / EPV;
  return { EPV, WW, VW: p.L / EPV, NW: Math.ceil(WW / p.S) };
}

/**
 * How a plan's heads sit in WGSL vectors: `C` heads per vector (1, 2 or 4), `HG` vectors per
 * workgroup, the vector type `T`, and `at(x, c)`: component c of a `T` value.
 */
export function headVec(p: FlashPlan) {
  const C = Math.min(p.HS, 4);
  const T = C === 1 ? 'f32' : `vec${C}<f32>`;
  return { C, HG: p.HS / C, T, at: (x: string, c: string | number) => (C === 1 ? x : `${x}[${c}]`) };
}

/**
 * WGSL: the row word that lane `j`'s slot `w` holds. Value words (those below L / elements per
 * word) come V to a lane per chunk of V·S words; the others one per lane (j + S·w).
 */
export function laneWord(p: FlashPlan, w: number): string {
  const { S, V } = p;
  return V > 1 && S * w < words(p).VW
    ? `${u(V)} * j + ${u(V * S * Math.floor(w / V) + (w % V))}`
    : `j + ${u(S * w)}`;
}

/** WGSL: the slot (w·S + j) holding row word `x`, the inverse of `laneWord`. */
export function laneSlot(p: FlashPlan, x: string): string {
  const { S, V } = p;
  const { VW } = words(p);
  return V > 1
    ? `select(${x}, ((${x}) / ${u(V * S)} * ${u(V)} + (${x}) % ${u(V)}) * ${u(S)} + (${x}) % ${u(V * S)} / ${u(V)}, (${x}) < ${u(VW)})`
    : x;
}

/**
 * WGSL loading lane j's slot `w` of the row at word `b` of `buf` into `<x>_<w>` (assigned): with
 * V > 1 a value slot's load fills the lane's V slots of its chunk (the other V − 1 slots give
 * ''), and a rope slot takes its word out of a load shared by V lanes. Lanes past the row's end
 * load nothing.
 */
export function rowWordLoad(p: FlashPlan, w: number, b: string, x: string, buf: string): string {
  const { S, V } = p;
  const { WW, VW } = words(p);
  const LV = Math.log2(V);
  if (V > 1 && S * w < VW) {
    if (w % V) return '';
    const fill = range(V).map((t) => `${x}_${w + t} = v[${t}];`);
    return `{ let v = ${buf}[(${b} >> ${u(LV)}) + j + ${u((S * w) / V)}]; ${fill.join(' ')} }`;
  }
  const ld =
    V > 1
      ? `${x}_${w} = ${buf}[(${b} >> ${u(LV)}) + (j >> ${u(LV)}) + ${u((S * w) / V)}][j & ${u(V - 1)}];`
      : `${x}_${w} = ${buf}[${b} + j + ${u(S * w)}];`;
  return WW % S !== 0 && S * (w + 1) > WW ? `if (j + ${u(S * w)} < ${u(WW)}) { ${ld} }` : ld;
}

/** WGSL after the subgroup states are in `sm`/`sl`: the merge of accumulators held in registers. */
export function registerMerge(p: FlashPlan, merge: string[]): string {
  const { NSG, HS, L } = p;
  const { C, HG, T, at } = headVec(p);
  const NT = p.S * NSG;
  const gs = range(HG);
  // f(h) = exp(m_sid(h) − M(h)) for this subgroup; the total sum Lt(h).
  return `${gs
    .map(
      (g) => `  var f_${g} = ${T}(0.0); var lt_${g} = ${T}(0.0);
  for (var c = 0u; c < ${u(C)}; c++) {
    let h = ${u(C * g)} + c;
    var mm = NEGF;
    for (var r = 0u; r < ${u(NSG)}; r++) { mm = max(mm, sm[r * ${u(HS)} + h]); }
    var tot = 0.0;
    for (var r = 0u; r < ${u(NSG)}; r++) { tot += sl[r * ${u(HS)} + h] * exp(sm[r * ${u(HS)} + h] - mm); }
    ${at(`f_${g}`, 'c')} = exp(sm[sid * ${u(HS)} + h] - mm);
    ${at(`lt_${g}`, 'c')} = tot;
    if (sid == 0u && j == 0u) {
      let hg = h0 + h;
      if (hg < H) { let ri = pu(15u) + (t * H + hg) * SP + s; if (tot > 0.0) { PL[ri] = bitcast<u32>(mm + log(tot)); } else { PL[ri] = 0xff800000u; } }
    }
  }`,
    )
    .join('\n')}
  for (var r = 0u; r < ${u(NSG)}; r++) {
    if (sid == r) {
      ${merge.join('\n      ')}
    }
    workgroupBarrier();
  }
  for (var i = lid; i < ${u(HS * L)}; i += ${u(NT)}) {
    let hh = i / ${u(L)}; let c = i % ${u(L)}; let h = h0 + hh;
    if (h < H) {
      let tot = ${at(HG === 1 ? 'lt_0' : `select(lt_0, lt_1, hh >= ${u(C)})`, `hh % ${u(C)}`)};
      let v = ${at(`qs[(hh / ${u(C)}) * ${u(L)} + c]`, `hh % ${u(C)}`)};
      PO[pu(14u) + ((t * H + h) * SP + s) * ${u(L)} + c] = select(0.0, v / tot, tot > 0.0);
    }
  }`;
}

/**
 * WGSL storing the workgroup's scaled queries in `qs` (slot (g·EPV + e)·NWS + word, component
 * h % C of head vectors of C heads): every invocation issues all its loads before its first
 * store (one memory latency, not one per element), and heads past H store zeros.
 */
export function queryLoads(p: FlashPlan, NT: number, NWS: number): string {
  const { HS, W } = p;
  const { C, at } = headVec(p);
  const per = words(p).EPV;
  const total = HS * W;
  const it = range(Math.ceil(total / NT));
  const loads = it.map(
    (i) =>
      `let e${i} = lid + ${u(i * NT)}; let hh${i} = min(e${i} / ${u(W)}, ${u(HS - 1)}); let v${i} = ldq((t * H + min(h0 + hh${i}, H - 1u)) * ${u(W)} + e${i} % ${u(W)});`,
  );
  const stores = it.map((i) => {
    const st = `{ let d = e${i} % ${u(W)}; ${at(`qs[((hh${i} / ${u(C)}) * ${u(per)} + d % ${u(per)}) * ${u(NWS)} + ${laneSlot(p, `d / ${u(per)}`)}]`, `hh${i} % ${u(C)}`)} = select(0.0, v${i} * scale, h0 + hh${i} < H); }`;
    return (i + 1) * NT > total ? `if (e${i} < ${u(total)}) ${st}` : st;
  });
  return `{
    ${loads.join('\n    ')}
    ${stores.join('\n    ')}
  }`;
}
