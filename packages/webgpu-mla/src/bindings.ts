/**
 * The WGSL of one tensor binding: its declaration and the helpers kernels use instead of
 * indexing the buffer. Helper names, for a binding named `x` (indices are elements of the view,
 * its offset added by the helper):
 *
 * - `o_x()` the view's element offset; `ld_x(i)` the value (f32, or i32 for i32 tensors);
 *   `raw_x(i)` the 16 bits of a bf16/f16 element; `ldu_x(i)` the 32 bits of an f32/i32 element;
 *   `to16_x(v)` f32 → the 16-bit pattern of x's dtype.
 * - Outputs (`write`/`rw`): `st_x(i, v)`, and `stu_x(i, bits)` for f32/i32.
 * - `atomic` (packed 16-bit outputs whose rows share words): `st16_x(i, bits)` sets one element
 *   with `atomicAnd`/`atomicOr` on its half of the word, so neighbours may be written at once.
 * - Word access for kernels that handle packed words themselves: `wordAt` / `setWord` below give
 *   the WGSL (`B_x[w]` for one buffer; `bw_x(w)` / `sw_x(w, v)` for a segmented tensor).
 *
 * A tensor split over S buffers (`segments.ts`) declares `B_x_0 … B_x_{S-1}`; the helpers pick the
 * buffer with a `switch` on `word / SEG_x`. A tensor in one buffer generates exactly the code it
 * did before segmentation existed. f16 outputs are `array<f16>` (element stores, no packing
 * pass) when the device has `shader-f16`; everything else is `array<u32>`.
 */
import { is16, segments, type WebGpuTensor } from './tensor.js';

/** How a kernel uses a binding. */
export type Access = 'read' | 'write' | 'rw' | 'raw' | 'atomic';

/** One tensor binding. */
export interface Bind {
  name: string;
  t: WebGpuTensor;
  /**
   * `read` (default); `write`/`rw` (element writes: f32/i32, native f16, otherwise 16-bit through
   * f32 scratch); `raw` (the body writes packed words itself); `atomic` (16-bit `st16_x`).
   */
  access?: Access;
}

/** How a binding is declared: `u32` words, `f16` elements (native f16 outputs), `atomic<u32>` words. */
export type BindKind = 'u32' | 'f16' | 'atomic';

/** The declaration kind of `b` on a device with (`nativeF16`) or without f16 storage. */
export function bindKind(b: Bind, nativeF16: boolean): BindKind {
  const access = b.access ?? 'read';
  if (access === 'atomic') {
    if (!is16(b.t.dtype)) throw new TypeError(`binding ${b.name}: atomic access is for bf16/f16 tensors`);
    return 'atomic';
  }
  if (nativeF16 && b.t.dtype === 'f16' && (access === 'write' || access === 'rw')) return 'f16';
  return 'u32';
}

/** WGSL expression: word `w` (absolute, the view offset included) of the packed binding `name` of `t`. */
export function wordAt(t: WebGpuTensor, name: string, w: string): string {
  return segments(t) > 1 ? `bw_${name}(${w})` : `B_${name}[${w}]`;
}

/** WGSL statement: stores `v` into word `w` of the `raw` binding `name` of `t`. */
export function setWord(t: WebGpuTensor, name: string, w: string, v: string): string {
  return segments(t) > 1 ? `sw_${name}(${w}, ${v});` : `B_${name}[${w}] = ${v};`;
}

/** The binding helpers of a tensor in one `array<u32>` buffer (unchanged since before segments). */
function single(b: Bind, slot: number): string {
  const n = b.name;
  const dt = b.t.dtype;
  const lines = [`fn o_${n}() -> u32 { return pu(${slot}u); }`];
  if (is16(dt)) {
    lines.push(
      `fn raw_${n}(i: u32) -> u32 { let e = o_${n}() + i; return (B_${n}[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }`,
      dt === 'bf16'
        ? `fn ld_${n}(i: u32) -> f32 { return bitcast<f32>(raw_${n}(i) << 16u); }`
        : `fn ld_${n}(i: u32) -> f32 { return unpack2x16float(raw_${n}(i)).x; }`,
      `fn to16_${n}(v: f32) -> u32 { return ${dt === 'bf16' ? 'f2bf' : 'f2h'}(v); }`,
    );
  } else {
    const ty = dt === 'i32' ? 'i32' : 'f32';
    lines.push(
      `fn ldu_${n}(i: u32) -> u32 { return B_${n}[o_${n}() + i]; }`,
      `fn ld_${n}(i: u32) -> ${ty} { return bitcast<${ty}>(B_${n}[o_${n}() + i]); }`,
    );
    if (b.access && b.access !== 'read') {
      lines.push(
        `fn st_${n}(i: u32, v: ${ty}) { B_${n}[o_${n}() + i] = bitcast<u32>(v); }`,
        `fn stu_${n}(i: u32, v: u32) { B_${n}[o_${n}() + i] = v; }`,
      );
    }
  }
  return lines.join('\n');
}

/** `switch` over the segments of `n` on `idx` (in units of `SEG_n`); `stmt(buffer)` uses `l`. */
function pick(n: string, count: number, idx: string, stmt: (buffer: string) => string): string {
  const cases = Array.from({ length: count }, (_, s) =>
    s === count - 1 ? `default: { ${stmt(`B_${n}_${s}`)} }` : `case ${s}u: { ${stmt(`B_${n}_${s}`)} }`,
  );
  return `let s = ${idx} / SEG_${n}; let l = ${idx} - s * SEG_${n};
  switch s { ${cases.join(' ')} }`;
}

/** Helpers of a segmented `array<u32>` binding. */
function segmentedWords(b: Bind, slot: number, count: number): string {
  const n = b.name;
  const dt = b.t.dtype;
  const writes = (b.access ?? 'read') !== 'read';
  const lines = [
    `const SEG_${n} = ${b.t.storage.segWords}u;`,
    `fn bw_${n}(w: u32) -> u32 {\n  ${pick(n, count, 'w', (a) => `return ${a}[l];`)}\n}`,
    ...(writes ? [`fn sw_${n}(w: u32, v: u32) {\n  ${pick(n, count, 'w', (a) => `${a}[l] = v;`)}\n}`] : []),
    `fn o_${n}() -> u32 { return pu(${slot}u); }`,
  ];
  if (is16(dt)) {
    lines.push(
      `fn raw_${n}(i: u32) -> u32 { let e = o_${n}() + i; return (bw_${n}(e >> 1u) >> ((e & 1u) * 16u)) & 0xffffu; }`,
      dt === 'bf16'
        ? `fn ld_${n}(i: u32) -> f32 { return bitcast<f32>(raw_${n}(i) << 16u); }`
        : `fn ld_${n}(i: u32) -> f32 { return unpack2x16float(raw_${n}(i)).x; }`,
      `fn to16_${n}(v: f32) -> u32 { return ${dt === 'bf16' ? 'f2bf' : 'f2h'}(v); }`,
    );
  } else {
    const ty = dt === 'i32' ? 'i32' : 'f32';
    lines.push(
      `fn ldu_${n}(i: u32) -> u32 { return bw_${n}(o_${n}() + i); }`,
      `fn ld_${n}(i: u32) -> ${ty} { return bitcast<${ty}>(bw_${n}(o_${n}() + i)); }`,
    );
    if (writes) {
      lines.push(
        `fn st_${n}(i: u32, v: ${ty}) { sw_${n}(o_${n}() + i, bitcast<u32>(v)); }`,
        `fn stu_${n}(i: u32, v: u32) { sw_${n}(o_${n}() + i, v); }`,
      );
    }
  }
  return lines.join('\n');
}

/** Helpers of a native `array<f16>` output (one buffer or several). */
function halves(b: Bind, slot: number, count: number): string {
  const n = b.name;
  const lines = [`fn o_${n}() -> u32 { return pu(${slot}u); }`];
  let get = (e: string) => `B_${n}[${e}]`;
  let set = (e: string, v: string) => `B_${n}[${e}] = ${v};`;
  if (count > 1) {
    lines.push(
      `const SEG_${n} = ${2 * b.t.storage.segWords}u;`,
      `fn be_${n}(e: u32) -> f16 {\n  ${pick(n, count, 'e', (a) => `return ${a}[l];`)}\n}`,
      `fn se_${n}(e: u32, v: f16) {\n  ${pick(n, count, 'e', (a) => `${a}[l] = v;`)}\n}`,
    );
    get = (e) => `be_${n}(${e})`;
    set = (e, v) => `se_${n}(${e}, ${v});`;
  }
  lines.push(
    `fn ld_${n}(i: u32) -> f32 { return f32(${get(`o_${n}() + i`)}); }`,
    `fn raw_${n}(i: u32) -> u32 { return bitcast<u32>(vec2<f16>(${get(`o_${n}() + i`)}, 0.0h)); }`,
    `fn to16_${n}(v: f32) -> u32 { return f2h(v); }`,
    `fn st_${n}(i: u32, v: f32) { ${set(`o_${n}() + i`, 'f16(v)')} }`,
  );
  return lines.join('\n');
}

/** Helpers of an `atomic` packed 16-bit output (one buffer or several). */
function atomics(b: Bind, slot: number, count: number): string {
  const n = b.name;
  const dt = b.t.dtype;
  const op = (a: string, w: string) =>
    `atomicAnd(&${a}[${w}], ~(0xffffu << sh)); atomicOr(&${a}[${w}], (bits & 0xffffu) << sh);`;
  const body = count > 1 ? pick(n, count, 'w', (a) => op(a, 'l')) : op(`B_${n}`, 'w');
  return [
    ...(count > 1 ? [`const SEG_${n} = ${b.t.storage.segWords}u;`] : []),
    `fn o_${n}() -> u32 { return pu(${slot}u); }`,
    `fn to16_${n}(v: f32) -> u32 { return ${dt === 'bf16' ? 'f2bf' : 'f2h'}(v); }`,
    `fn st16_${n}(i: u32, bits: u32) {
  let e = o_${n}() + i; let w = e >> 1u; let sh = (e & 1u) * 16u;
  ${body}
}`,
  ].join('\n');
}

/** The WGSL of binding `b`: declarations from `@binding(first)`, helpers, and the lines that keep every buffer in the layout. */
export interface BindingCode {
  code: string;
  touch: string[];
  /** WGSL bindings used (its buffers). */
  count: number;
}

/** Declarations and helpers of `b` (parameter slot `slot`, first WGSL binding number `first`). */
export function bindingWgsl(b: Bind, slot: number, first: number, nativeF16: boolean): BindingCode {
  const n = b.name;
  const kind = bindKind(b, nativeF16);
  const count = segments(b.t);
  const acc = (b.access ?? 'read') === 'read' ? 'read' : 'read_write';
  const elem = kind === 'f16' ? 'f16' : kind === 'atomic' ? 'atomic<u32>' : 'u32';
  const names = count === 1 ? [`B_${n}`] : Array.from({ length: count }, (_, s) => `B_${n}_${s}`);
  const decls = names.map(
    (v, s) => `@group(0) @binding(${first + s}) var<storage, ${acc}> ${v}: array<${elem}>;`,
  );
  const helpers =
    kind === 'f16'
      ? halves(b, slot, count)
      : kind === 'atomic'
        ? atomics(b, slot, count)
        : count === 1
          ? single(b, slot)
          : segmentedWords(b, slot, count);
  return {
    code: [...decls, helpers].join('\n'),
    touch: names.map((v) => `  _ = arrayLength(&${v});`),
    count,
  };
}
