/**
 * The streaming decode kernel's WGSL around its key loop (`decode-flash.ts`): the lane-word
 * geometry of a row, the query prologue and the merge of the subgroups' register accumulators.
 */
import type { FlashPlan } from './decode-flash.js';
import { range, u } from './decode-scores.js';

/** Words (u32) of one cache row, words per lane, and the elements one word holds (`EPV`). */
export function words(p: FlashPlan) {
  const EPV = p.cache.dtype === 'f32' ? 1 : 2;
  const WW = p.W / EPV;
  return { EPV, WW, NW: Math.ceil(WW / p.S) };
}

/** WGSL after the subgroup states are in `sm`/`sl`: the merge of accumulators held in registers. */
export function registerMerge(p: FlashPlan, merge: string[]): string {
  const { NSG, HS, L } = p;
  const HG = HS / 4;
  const NT = p.S * NSG;
  const gs = range(HG);
  // f(h) = exp(m_sid(h) − M(h)) for this subgroup; the total sum Lt(h).
  return `${gs
    .map(
      (g) => `  var f_${g} = vec4<f32>(0.0); var lt_${g} = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    let h = ${u(4 * g)} + c;
    var mm = NEGF;
    for (var r = 0u; r < ${u(NSG)}; r++) { mm = max(mm, sm[r * ${u(HS)} + h]); }
    var tot = 0.0;
    for (var r = 0u; r < ${u(NSG)}; r++) { tot += sl[r * ${u(HS)} + h] * exp(sm[r * ${u(HS)} + h] - mm); }
    f_${g}[c] = exp(sm[sid * ${u(HS)} + h] - mm);
    lt_${g}[c] = tot;
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
      let tot = ${HG === 1 ? 'lt_0' : `select(lt_0, lt_1, hh >= 4u)`}[hh % 4u];
      let v = qs[(hh / 4u) * ${u(L)} + c][hh % 4u];
      PO[pu(14u) + ((t * H + h) * SP + s) * ${u(L)} + c] = select(0.0, v / tot, tot > 0.0);
    }
  }`;
}

/**
 * WGSL storing the workgroup's scaled queries in `qs` (slot (g·EPV + e)·NWS + word, component
 * h % 4): every invocation issues all its loads before its first store (one memory latency,
 * not one per element), and heads past H store zeros.
 */
export function queryLoads(p: FlashPlan, NT: number, NWS: number): string {
  const { HS, W } = p;
  const per = words(p).EPV;
  const total = HS * W;
  const it = range(Math.ceil(total / NT));
  const loads = it.map(
    (i) =>
      `let e${i} = lid + ${u(i * NT)}; let hh${i} = min(e${i} / ${u(W)}, ${u(HS - 1)}); let v${i} = ldq((t * H + min(h0 + hh${i}, H - 1u)) * ${u(W)} + e${i} % ${u(W)});`,
  );
  const stores = it.map((i) => {
    const st = `{ let d = e${i} % ${u(W)}; qs[((hh${i} / 4u) * ${u(per)} + d % ${u(per)}) * ${u(NWS)} + d / ${u(per)}][hh${i} % 4u] = select(0.0, v${i} * scale, h0 + hh${i} < H); }`;
    return (i + 1) * NT > total ? `if (e${i} < ${u(total)}) ${st}` : st;
  });
  return `{
    ${loads.join('\n    ')}
    ${stores.join('\n    ')}
  }`;
}
