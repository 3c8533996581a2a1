/**
 * WGSL both decode split kernels (`decode-kernel.ts`, `decode-flash.ts`) start with: the bindings
 * and parameter slots `decode.ts` fills, the query loader, and the entry's first lines (which
 * workgroup is which token, split and head chunk; the token's block-table row and length).
 */
import { range, u } from './decode-scores.js';

/**
 * Bindings 0–6 (parameters, queries, block table, lengths, row map, partial outputs and LSEs),
 * the parameter reader `pu`, `NEGF`, and `ldq(i)`: query element i as f32 (scaling is the caller's).
 */
export function splitPrelude(qDtype: 'f32' | 'bf16' | 'f16'): string {
  const w = 'let e = pu(9u) + i; let w = (Q[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;';
  const ldq =
    qDtype === 'f32'
      ? 'fn ldq(i: u32) -> f32 { return bitcast<f32>(Q[pu(9u) + i]); }'
      : `fn ldq(i: u32) -> f32 { ${w} return ${qDtype === 'bf16' ? 'bitcast<f32>(w << 16u)' : 'unpack2x16float(w).x'}; }`;
  return `@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 16>;
@group(0) @binding(1) var<storage, read> Q: array<u32>;
@group(0) @binding(2) var<storage, read> BT: array<i32>;
@group(0) @binding(3) var<storage, read> LEN: array<i32>;
@group(0) @binding(4) var<storage, read> ROW: array<i32>;
@group(0) @binding(5) var<storage, read_write> PO: array<f32>;
@group(0) @binding(6) var<storage, read_write> PL: array<u32>;
fn pu(k: u32) -> u32 { return P[k >> 2u][k & 3u]; }
const NEGF = -3.0e38;
${ldq}`;
}

/**
 * The entry's first lines: every binding referenced (so `layout: 'auto'` keeps them), the
 * workgroup's token t, split s and first head h0 (`heads` per workgroup), and invocation 0
 * writing the token's block-table row and length into the workgroup variable `info`.
 */
export function splitPrologue(segments: number, heads: number): string {
  return `  _ = arrayLength(&Q); _ = arrayLength(&BT); _ = arrayLength(&LEN); _ = arrayLength(&ROW);
  _ = arrayLength(&PO); _ = arrayLength(&PL);${range(segments)
    .map((s) => ` _ = arrayLength(&C_${s});`)
    .join('')}
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= pu(0u)) { return; }
  let H = pu(1u); let BS = pu(2u); let MB = pu(3u); let NHC = pu(4u); let SP = pu(5u);
  let hc = wg % NHC; let ts = wg / NHC; let s = ts % SP; let t = ts / SP;
  let h0 = hc * ${u(heads)};
  if (lid == 0u) {
    var r = t;
    if (pu(7u) == 1u) { r = u32(max(ROW[pu(13u) + t], 0)); }
    info = vec2<u32>(r, u32(max(LEN[pu(12u) + t], 0)));
  }`;
}
