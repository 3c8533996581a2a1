/**
 * WGSL of the decode kernel's score phase (see `decode-kernel.ts`): the subgroup path (lanes
 * across a key row, a transposing butterfly) and the plain path (one invocation per key and 4
 * heads), plus the small text helpers both files use.
 */
import type { DecodePlan } from './decode-kernel.js';

/** `x` as a WGSL u32 literal. */
export const u = (x: number) => `${x}u`;
/** 0, 1, …, n − 1. */
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const LANES = ['x', 'y', 'z', 'w'];
/** Component `i` (0..7) of a `Ch`. */
export const el = (v: string, i: number) => `${v}.${i < 4 ? 'a' : 'b'}.${LANES[i % 4]}`;

/**
 * WGSL of a transposing subgroup butterfly over `vals` (WGSL expressions, a power-of-two count)
 * across lane offsets `top`, `top`/2, …, 1. While a lane holds several values, each level keeps
 * half of them (the upper half where the lane's offset bit is set) plus its partner's same half,
 * so the count halves with no value sent twice; once one is left, levels are plain sums. Returns
 * the lines, the sums each lane ends with, the halving levels (offset `o`, values kept `half`;
 * `up<o>` says which half a lane kept) and the mask of the plain-sum offsets.
 */
export function transposingButterfly(
  vals: string[],
  top: number,
): { lines: string[]; sums: string[]; halvings: { o: number; half: number }[]; mask: number } {
  const lines: string[] = [];
  const halvings: { o: number; half: number }[] = [];
  let mask = 0;
  for (let o = top; o >= 1; o /= 2) {
    if (vals.length > 1) {
      const half = vals.length / 2;
      lines.push(`let up${o} = (j & ${u(o)}) != 0u;`);
      const next: string[] = [];
      for (let i = 0; i < half; i++) {
        const a = vals[i]!;
        const b = vals[i + half]!;
        lines.push(
          `let t${o}_${i} = select(${a}, ${b}, up${o}) + subgroupShuffleXor(select(${b}, ${a}, up${o}), ${u(o)});`,
        );
        next.push(`t${o}_${i}`);
      }
      halvings.push({ o, half });
      vals = next;
    } else {
      lines.push(`let t${o}_0 = ${vals[0]} + subgroupShuffleXor(${vals[0]}, ${u(o)});`);
      vals = [`t${o}_0`];
      mask |= o;
    }
  }
  return { lines, sums: vals, halvings, mask };
}

/** Key `kl` of the tile: `ok_<n>`, `b_<n>` (row base) and its `kb` entry (written by `writer`). */
function keyBase(n: string, kl: string, writer: string): string {
  return `let kl_${n} = ${kl}; let ok_${n} = kl_${n} < cnt; var b_${n} = 0u;
      if (ok_${n}) {
        let ja = k0 + kl_${n};
        let blk = u32(max(BT[pu(11u) + row * MB + ja / BS], 0));
        b_${n} = rowBase(blk * BS + ja % BS);
        if (${writer}) { kb[kl_${n}] = b_${n}; }
      }`;
}

/** WGSL: `b_<k>` = row bases of this lane's keys in the tile starting at key `kt` (0 past `end`). */
function bases(p: DecodePlan, kt: string): string {
  return range(p.KPL)
    .map(
      (k) => `b_${k} = 0u;
      if (${kt} + kl_${k} < end) {
        let ja = ${kt} + kl_${k};
        b_${k} = rowBase(u32(max(BT[pu(11u) + row * MB + ja / BS], 0)) * BS + ja % BS);
      }`,
    )
    .join('\n      ');
}

/** WGSL: loads chunk slots `x_<k>_<s>` (s < pf) of the tile whose bases are in `b_<k>`. */
function prefetch(p: DecodePlan): string {
  const { LPR, NCH } = p;
  const guard = NCH % LPR !== 0;
  return range(p.KPL)
    .flatMap((k) =>
      range(p.tune.pf).map(
        (s) =>
          `x_${k}_${s} = ldr(b_${k}, ${guard ? `min(j + ${u(LPR * s)}, ${u(NCH - 1)})` : `j + ${u(LPR * s)}`});`,
      ),
    )
    .join(' ');
}

/**
 * Subgroup path, before the tile loop: the lane's key row group, its keys' bases in the first
 * tile and the first `pf` chunks of each (loads in flight).
 */
export function subgroupSetup(p: DecodePlan): string {
  const { KPL, LPR, NHH } = p;
  const NG = p.NT / (LPR * NHH);
  const raw = p.cache.fast ? (p.cache.dtype === 'f32' ? 'Rw' : 'vec4<u32>') : 'Ch';
  const lines = [
    `  let j = wl % ${u(LPR)}; let hh = (wl / ${u(LPR)}) % ${u(NHH)}; let kg = wl / ${u(LPR * NHH)};`,
  ];
  for (const k of range(KPL)) lines.push(`  let kl_${k} = kg + ${u(NG * k)}; var b_${k} = 0u;`);
  for (const k of range(KPL)) for (const s of range(p.tune.pf)) lines.push(`  var x_${k}_${s}: ${raw};`);
  if (p.tune.skip !== 'scores') lines.push(`  if (start < end) { ${bases(p, 'start')} ${prefetch(p)} }`);
  else lines.push(`  ${bases(p, 'start')}`);
  return lines.join('\n');
}

/**
 * Scores with subgroups: lanes in groups of LPR across one key row (chunk c = j + LPR·i), KPL
 * keys per lane, all HCP heads per lane; partial dot products of 4 heads in a vec4 per key.
 * Each lane keeps `pf` chunks per key in flight: a slot is refilled with the chunk `pf` ahead as
 * soon as it is consumed. The LPR lanes are summed by a transposing butterfly (each step halves
 * what a lane keeps). Then the next tile's bases and first chunks are loaded (in flight during
 * the softmax and value pass).
 */
export function scoresSubgroup(p: DecodePlan): string {
  const { HG, KPL, LPR, NHH } = p;
  const NG = p.NT / (LPR * NHH);
  const GL = p.HPL / 4;
  const NI = Math.ceil(p.NCH / LPR);
  const PF = p.tune.pf;
  const guard = p.NCH % LPR !== 0;
  const ks = range(KPL);
  const gs = range(GL);
  const out: string[] = [];
  for (const k of ks)
    out.push(`      if (j == 0u && hh == 0u && k0 + kl_${k} < end) { kb[kl_${k}] = b_${k}; }`);
  for (const g of gs) for (const k of ks) out.push(`      var s_${g}_${k} = vec4<f32>(0.0);`);
  if (p.tune.skip !== 'scores') {
    out.push(`      for (var i = 0u; i < ${u(NI)}; i += ${u(PF)}) {`);
    for (const s of range(PF)) {
      const c = `j + ${u(LPR)} * (i + ${u(s)})`;
      const next = `j + ${u(LPR)} * (i + ${u(PF + s)})`;
      for (const k of ks) out.push(`        let y_${k}_${s} = unp(x_${k}_${s});`);
      out.push(
        `        if (i + ${u(PF + s)} < ${u(NI)}) { ${ks.map((k) => (guard ? `if (${next} < ${u(p.NCH)}) { x_${k}_${s} = ldr(b_${k}, ${next}); }` : `x_${k}_${s} = ldr(b_${k}, ${next});`)).join(' ')} }`,
      );
      const body: string[] = [`let qb_${s} = (i + ${u(s)}) * ${u(8 * HG * LPR)} + hh * ${u(GL * LPR)} + j;`];
      for (let ii = 0; ii < 8; ii++) {
        for (const g of gs) {
          body.push(`let q_${ii}_${g} = qs[qb_${s} + ${u((ii * HG + g) * LPR)}];`);
          for (const k of ks)
            body.push(`s_${g}_${k} = fma(q_${ii}_${g}, vec4<f32>(${el(`y_${k}_${s}`, ii)}), s_${g}_${k});`);
        }
      }
      out.push(
        guard ? `        if (${c} < ${u(p.NCH)}) { ${body.join(' ')} }` : `        { ${body.join(' ')} }`,
      );
    }
    out.push('      }');
  }
  // Transposing butterfly across the LPR lanes of a key row; st0: the lane's first kept slot.
  const bf = transposingButterfly(
    gs.flatMap((g) => ks.map((k) => `s_${g}_${k}`)),
    LPR / 2,
  );
  out.push(...bf.lines.map((l) => `      ${l}`));
  out.push('      var st0 = 0u;');
  for (const { o, half } of bf.halvings) out.push(`      if (up${o}) { st0 += ${u(half)}; }`);
  const { mask } = bf;
  const writes = bf.sums.map(
    (v, i) =>
      `{ let ix = st0 + ${u(i)}; let kl = kg + ${u(NG)} * (ix % ${u(KPL)}); if (kl < cnt) { ps[kl * ${u(HG)} + hh * ${u(GL)} + ix / ${u(KPL)}] = ${v}; } }`,
  );
  out.push(`      if ((j & ${u(mask)}) == 0u) { ${writes.join(' ')} }`);
  out.push(`      let k1 = k0 + ${u(p.TK)};`);
  if (p.tune.skip !== 'scores') out.push(`      if (k1 < end) { ${bases(p, 'k1')} ${prefetch(p)} }`);
  else out.push(`      ${bases(p, 'k1')}`);
  return out.join('\n');
}

/** Scores without subgroups: one invocation per (key, 4 heads) over the whole row. */
export function scoresPlain(p: DecodePlan): string {
  const HG = p.HG;
  const body = range(8)
    .map((ii) => `sc = fma(qs[qb + ${u(ii * HG)}], vec4<f32>(${el('y', ii)}), sc);`)
    .join(' ');
  return `      let g = lid % ${u(HG)};
      ${keyBase('0', `lid / ${u(HG)}`, 'g == 0u')}
      if (ok_0) {
        var sc = vec4<f32>(0.0);
        for (var c = 0u; c < ${u(p.NCH)}; c++) {
          let y = unp(ldr(b_0, c));
          let qb = c * ${u(8 * HG)} + g;
          ${body}
        }
        ps[kl_0 * ${u(HG)} + g] = sc;
      }`;
}
