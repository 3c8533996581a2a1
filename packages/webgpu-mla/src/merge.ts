/**
 * The local DCP merge kernels: the ag_rs LSE correction, the a2a pack (LSE bits carried in the
 * payload's dtype) and the a2a combine. NaN/+inf/−inf LSEs are treated as empty shards; the
 * global LSE is always written as a natural log.
 */
import type { Tensor } from '@dcp/backend';
import { need } from './dense.js';
import { run, wordWriter } from './run.js';
import { arg, count, is16, type Owner } from './tensor.js';

/** WGSL: `lse_of(n)` (raw f32 bits of rank n's LSE) must be defined; computes m, G, any. */
const LSE_SCAN = `  var m = -3.0e38; var any = false;
  for (var n = 0u; n < p_W(); n++) {
    let b = lse_of(n);
    if (finite_bits(b)) { m = max(m, bitcast<f32>(b)); any = true; }
  }
  var sum = 0.0;
  for (var n = 0u; n < p_W(); n++) {
    let b = lse_of(n);
    if (finite_bits(b)) { sum += ex(bitcast<f32>(b) - m); }
  }
  let G = lg(sum) + m;`;

const BASE_FNS = (base2: boolean) =>
  base2
    ? 'fn ex(x: f32) -> f32 { return exp2(x); }\nfn lg(x: f32) -> f32 { return log2(x); }\nconst TO_E = 0.6931471805599453;'
    : 'fn ex(x: f32) -> f32 { return exp(x); }\nfn lg(x: f32) -> f32 { return log(x); }\nconst TO_E = 1.0;';

function checkBase(base: string, op: string): boolean {
  need(base === 'e' || base === '2', `${op} base: must be 'e' or '2', got ${String(base)}`);
  return base === '2';
}

/** ag_rs correction of this rank's partial output, in place. */
export function lseCorrect(
  o: Owner,
  outT: Tensor,
  lsesT: Tensor,
  rank: number,
  base: 'e' | '2',
  gT: Tensor | null,
): void {
  const out = arg(outT, 'lseCorrect out');
  const lses = arg(lsesT, 'lseCorrect lses');
  const g = gT ? arg(gT, 'lseCorrect globalLse') : null;
  need(out.shape.length === 3, `lseCorrect out: must be [B, H, D], got [${out.shape.join(', ')}]`);
  const [B, H, D] = out.shape as [number, number, number];
  need(lses.dtype === 'f32', 'lseCorrect lses: must be f32');
  // The shape says W even for an empty batch; flattened LSEs give it by division.
  const W = lses.shape.length === 3 ? lses.shape[0]! : B * H === 0 ? 1 : count(lses) / (B * H);
  need(count(lses) === W * B * H, `lseCorrect lses: must be [W, ${B}, ${H}]`);
  need(Number.isInteger(W) && W >= 1, `lseCorrect lses: must be [W, ${B}, ${H}]`);
  need(Number.isInteger(rank) && rank >= 0 && rank < W, `lseCorrect rank: ${rank} outside [0, ${W})`);
  need(!g || (g.dtype === 'f32' && count(g) === B * H), `lseCorrect globalLse: must be f32 [${B}, ${H}]`);
  const base2 = checkBase(base, 'lseCorrect');
  if (B * H === 0) return;
  run(o, [
    {
      binds: [
        { name: 'o', t: out, access: 'rw' },
        { name: 'ls', t: lses },
        { name: 'g', t: g ?? lses, access: g ? 'write' : 'read' },
      ],
      params: [
        ['W', 'u', W],
        ['BH', 'u', B * H],
        ['D', 'u', D],
        ['rank', 'u', rank],
      ],
      decl: BASE_FNS(base2),
      body: `  let row = i;
${LSE_SCAN.replaceAll('lse_of(n)', 'ldu_ls(n * p_BH() + row)')}
  let br = ldu_ls(p_rank() * p_BH() + row);
  var f = 0.0;
  if (any && finite_bits(br)) { f = ex(bitcast<f32>(br) - G); }
  for (var d = 0u; d < p_D(); d++) {
    if (f == 0.0) { st_o(row * p_D() + d, 0.0); } else { st_o(row * p_D() + d, ld_o(row * p_D() + d) * f); }
  }
  ${g ? 'if (any) { st_g(row, G * TO_E); } else { stu_g(row, NEG_INF_BITS); }' : ''}`,
      threads: B * H,
    },
  ]);
}

/** Packs `out` `[B, H, D]` and `lse` `[B, H]` into `[B, H, D + P]`. */
export function lsePack(o: Owner, outT: Tensor, lseT: Tensor, packedT: Tensor): void {
  const out = arg(outT, 'lsePack out');
  const lse = arg(lseT, 'lsePack lse');
  const packed = arg(packedT, 'lsePack packed');
  need(out.shape.length === 3, 'lsePack out: must be [B, H, D]');
  const [B, H, D] = out.shape as [number, number, number];
  need(lse.dtype === 'f32' && count(lse) === B * H, `lsePack lse: must be f32 [${B}, ${H}]`);
  need(
    out.dtype !== 'i32' && packed.dtype === out.dtype,
    `lsePack packed: must have out's dtype ${out.dtype}`,
  );
  const P = out.dtype === 'f32' ? 1 : 2;
  need(count(packed) === B * H * (D + P), `lsePack packed: must be [${B}, ${H}, ${D + P}]`);
  const params = [['D', 'u', D] as const];
  if (is16(out.dtype)) {
    run(o, [
      wordWriter(
        packed,
        [
          { name: 'o', t: out },
          { name: 'l', t: lse },
        ],
        `fn val16(e: u32) -> u32 {
  let r = e / (p_D() + 2u); let c = e % (p_D() + 2u);
  if (c < p_D()) { return raw_o(r * p_D() + c); }
  if (c == p_D()) { return ldu_l(r) >> 16u; }
  return ldu_l(r) & 0xffffu;
}`,
        params,
      ),
    ]);
    return;
  }
  run(o, [
    {
      binds: [
        { name: 'o', t: out },
        { name: 'l', t: lse },
        { name: 'p', t: packed, access: 'write' },
      ],
      params,
      body: `  let r = i / (p_D() + 1u); let c = i % (p_D() + 1u);
  if (c < p_D()) { stu_p(i, ldu_o(r * p_D() + c)); } else { stu_p(i, ldu_l(r)); }`,
      threads: count(packed),
    },
  ]);
}

/** The a2a combine of `packed` `[B, W, Hl, D + P]` into `out` `[B, Hl, D]`. */
export function lseCombineA2a(
  o: Owner,
  packedT: Tensor,
  base: 'e' | '2',
  outT: Tensor,
  olT: Tensor | null,
): void {
  const packed = arg(packedT, 'lseCombineA2a packed');
  const out = arg(outT, 'lseCombineA2a out');
  const ol = olT ? arg(olT, 'lseCombineA2a outLse') : null;
  need(out.shape.length === 3, 'lseCombineA2a out: must be [B, Hl, D]');
  need(packed.dtype !== 'i32', 'lseCombineA2a packed: must be a float tensor');
  const base2 = checkBase(base, 'lseCombineA2a');
  const [B, Hl, D] = out.shape as [number, number, number];
  const P = packed.dtype === 'f32' ? 1 : 2;
  const W =
    packed.shape.length === 4 ? packed.shape[1]! : B * Hl === 0 ? 1 : count(packed) / (B * Hl * (D + P));
  need(count(packed) === B * W * Hl * (D + P), `lseCombineA2a packed: must be [${B}, ${W}, ${Hl}, ${D + P}]`);
  need(
    Number.isInteger(W) && W >= 1,
    `lseCombineA2a packed: must be [${B}, W, ${Hl}, ${D + P}] (${packed.dtype} packs the LSE in ${P} lane(s))`,
  );
  need(
    !ol || (ol.dtype === 'f32' && count(ol) === B * Hl),
    `lseCombineA2a outLse: must be f32 [${B}, ${Hl}]`,
  );
  if (B * Hl === 0) return;
  const Dt = Math.max(1, D);
  const lseBits = P === 1 ? 'ldu_p(po + p_D())' : '(raw_p(po + p_D()) << 16u) | raw_p(po + p_D() + 1u)';
  run(o, [
    {
      binds: [
        { name: 'p', t: packed },
        { name: 'o', t: out, access: 'write' },
        { name: 'ol', t: ol ?? packed, access: ol ? 'write' : 'read' },
      ],
      params: [
        ['W', 'u', W],
        ['Hl', 'u', Hl],
        ['D', 'u', D],
        ['Dt', 'u', Dt],
        ['P', 'u', P],
      ],
      decl: `${BASE_FNS(base2)}
fn row_at(r: u32, n: u32) -> u32 { let b = r / p_Hl(); let h = r % p_Hl(); return ((b * p_W() + n) * p_Hl() + h) * (p_D() + p_P()); }
fn lse_at(r: u32, n: u32) -> u32 { let po = row_at(r, n); return ${lseBits}; }`,
      body: `  let r = i / p_Dt(); let d = i % p_Dt();
${LSE_SCAN.replaceAll('lse_of(n)', 'lse_at(r, n)')}
  if (d < p_D()) {
    var acc = 0.0;
    for (var n = 0u; n < p_W(); n++) {
      let b = lse_at(r, n);
      if (!any || !finite_bits(b)) { continue; }
      let w = ex(bitcast<f32>(b) - G);
      if (w > 0.0) { acc += w * ld_p(row_at(r, n) + d); }
    }
    st_o(r * p_D() + d, acc);
  }
  ${ol ? 'if (d == 0u) { if (any) { st_ol(r, G * TO_E); } else { stu_ol(r, NEG_INF_BITS); } }' : ''}`,
      threads: B * Hl * Dt,
    },
  ]);
}
