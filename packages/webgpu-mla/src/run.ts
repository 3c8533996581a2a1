/**
 * Kernel launcher: builds the WGSL of one op from its bindings and body, caches the pipeline by
 * a structural key (`kernelKey`, so the text is built once per kernel shape), and records the
 * op's dispatches into the device's open compute pass with cached bind groups (the parameter
 * slot is a dynamic offset); copies and clears end that pass first, keeping queue order.
 *
 * Bindings and their typed helpers (`ld_x`, `st_x`, `raw_x`, …) come from `bindings.ts`, which
 * also handles tensors split over several buffers. Kernels compute in f32 and write f32: a packed
 * 16-bit output is computed into an f32 scratch and packed afterwards (unpacked first when the op
 * leaves some elements untouched), so no two invocations ever write halves of one word; a native
 * f16 output (`shader-f16`) is written element by element instead.
 */
import type { DType } from '@dcp/backend';
import { dtypeBytes } from '@dcp/backend';
import { type Bind, bindingWgsl, bindKind, setWord, wordAt } from './bindings.js';
import {
  bindGroupFor,
  computePass,
  encoder,
  type Gpu,
  layoutFor,
  opEncoded,
  PARAM_SLOT,
  paramSlot,
  pipelineFor,
  pipelineWithLayout,
  releaseBuffer,
} from './gpu.js';
import { copyStorage, newStorage } from './segments.js';
import { count, is16, makeTensor, type Owner, segments, type WebGpuTensor } from './tensor.js';

export type { Access, Bind } from './bindings.js';

/** A scalar parameter: u32, i32 or f32. */
export type Param = readonly [name: string, kind: 'u' | 'i' | 'f', value: number];

/** One compute pass. */
export interface Kernel {
  binds: Bind[];
  params?: readonly Param[];
  /** Module-scope WGSL (helpers, consts, workgroup arrays). */
  decl?: string;
  /** Body of `main`; has `i` (thread mode), `wg` and `lid`. */
  body: string;
  /** Thread mode: one invocation per `i < threads`. */
  threads?: number;
  /** Group mode: `groups` workgroups of `size` invocations (`wg < groups`). */
  groups?: number;
  size?: number;
  /** Some elements of the 16-bit outputs are not written by the body (unpack them first). */
  partial?: boolean;
  /** Uses subgroup builtins (`sgl` lane, `sgs` size); the device must have `subgroups`. */
  subgroups?: boolean;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const I32 = new Int32Array(F32.buffer);

function bits(kind: 'u' | 'i' | 'f', v: number): number {
  if (kind === 'f') F32[0] = v;
  else if (kind === 'i') I32[0] = v;
  else U32[0] = v;
  return U32[0]!;
}

const F16_TO = 'fn f2h(v: f32) -> u32 { return pack2x16float(vec2<f32>(v, 0.0)) & 0xffffu; }';
const BF16_TO = `fn f2bf(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u) { return ((b >> 16u) | 0x40u) & 0xffffu; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}`;

const SUBGROUP_ARGS =
  ',\n        @builtin(subgroup_invocation_id) sgl: u32, @builtin(subgroup_size) sgs: u32';

/**
 * The WGSL of a kernel (also its pipeline-cache key). `nativeF16`: f16 outputs are declared
 * `array<f16>` (the device has `shader-f16`).
 */
export function wgsl(k: Kernel, nativeF16 = false): string {
  const size = k.size ?? 64;
  const native = k.binds.some((b) => bindKind(b, nativeF16) === 'f16');
  const parts = [
    ...(native ? ['enable f16;'] : []),
    ...(k.subgroups ? ['enable subgroups;', 'diagnostic(off, subgroup_uniformity);'] : []),
    '@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 16>;',
    'fn pu(k: u32) -> u32 { return P[k >> 2u][k & 3u]; }',
    'const NEG_INF_BITS: u32 = 0xff800000u;',
    'fn finite_bits(b: u32) -> bool { return (b & 0x7f800000u) != 0x7f800000u; }',
    F16_TO,
    BF16_TO,
  ];
  const touch: string[] = [];
  let first = 1;
  k.binds.forEach((b, j) => {
    const c = bindingWgsl(b, j, first, nativeF16);
    parts.push(c.code);
    touch.push(...c.touch);
    first += c.count;
  });
  (k.params ?? []).forEach(([name, kind], j) => {
    const ty = kind === 'u' ? 'u32' : kind === 'i' ? 'i32' : 'f32';
    parts.push(`fn p_${name}() -> ${ty} { return bitcast<${ty}>(pu(${9 + j}u)); }`);
  });
  if (k.decl) parts.push(k.decl);
  const guard = k.groups === undefined ? 'if (i >= pu(8u)) { return; }' : 'if (wg >= pu(8u)) { return; }';
  parts.push(`@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${k.subgroups ? SUBGROUP_ARGS : ''}) {
  _ = pu(0u);
${touch.join('\n')}
  let wg = wid.x + wid.y * nwg.x;
  let i = wg * ${size}u + lid;
  ${guard}
${k.body}
}`);
  return parts.join('\n');
}

/** Storage buffers `k` binds; throws naming the device limit when there are too many. */
function checkBindings(owner: Owner, k: Kernel): void {
  if (k.binds.length > 8) throw new RangeError(`kernel: ${k.binds.length} tensor bindings, at most 8`);
  const total = k.binds.reduce((n, b) => n + segments(b.t), 0);
  if (total > owner.layout.maxBindings) {
    const split = k.binds
      .filter((b) => segments(b.t) > 1)
      .map((b) => `${b.name} in ${segments(b.t)} buffers`)
      .join(', ');
    throw new RangeError(
      `kernel binds ${total} storage buffers (${split}), more than this device's maxStorageBuffersPerShaderStage (${owner.layout.maxBindings}); use fewer KV-cache blocks per rank`,
    );
  }
}

/**
 * A short key that determines `wgsl(k, nativeF16)`: everything the text depends on (workgroup
 * size, guard mode, subgroups, each binding's name/dtype/access/segments, parameter names and
 * kinds, the module text and body) and nothing it does not (offsets, counts, parameter values).
 */
export function kernelKey(k: Kernel, nativeF16: boolean): string {
  return `${kernelHead(k, nativeF16)}|${k.decl ?? ''}\u0000${k.body}`;
}

/** `kernelKey` without the module text and body. */
function kernelHead(k: Kernel, nativeF16: boolean): string {
  let key = `${k.size ?? 64}|${k.groups === undefined ? 't' : 'g'}|${k.subgroups ? 's' : ''}|${nativeF16 ? 'h' : ''}|`;
  for (const b of k.binds) {
    const n = segments(b.t);
    key += `${b.name}:${b.t.dtype}:${b.access ?? 'read'}:${n}${n > 1 ? `:${b.t.storage.segWords}` : ''};`;
  }
  key += '|';
  for (const [name, kind] of k.params ?? []) key += `${name}:${kind};`;
  return key;
}

/** `map.get(key)`, or `make()` stored there first. */
export function getOrMake<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** The pipeline and layout of `k`, from the device's structural-key cache (built once per key). */
function cachedKernel(owner: Owner, k: Kernel) {
  const byDecl = getOrMake(owner.gpu.host.kernels, k.body, () => new Map());
  const byHead = getOrMake(byDecl, k.decl ?? '', () => new Map());
  const head = kernelHead(k, owner.layout.nativeF16);
  let c = byHead.get(head);
  if (!c) {
    const writable: boolean[] = [];
    for (const b of k.binds) {
      for (let s = 0; s < segments(b.t); s++) writable.push((b.access ?? 'read') !== 'read');
    }
    const layout = layoutFor(owner.gpu, writable);
    c = { pipeline: pipelineWithLayout(owner.gpu, wgsl(k, owner.layout.nativeF16), layout), layout };
    byHead.set(head, c);
  }
  return c;
}

/**
 * Whether `owner` takes the cached launch path (the default) or the per-op path kept as a
 * benchmark baseline (`hostCache: false`: WGSL text as the pipeline key, a bind group and a
 * compute pass per dispatch).
 */
function cached(owner: Owner): boolean {
  return owner.layout.hostCache;
}

/** Encodes one pass (no scratch handling). Returns nothing when there is no work. */
function encodePass(owner: Owner, k: Kernel): void {
  const gpu: Gpu = owner.gpu;
  const size = k.size ?? 64;
  const groups = k.groups ?? Math.ceil((k.threads ?? 0) / size);
  if (groups === 0) return;
  checkBindings(owner, k);
  const words = new Uint32Array(PARAM_SLOT / 4);
  k.binds.forEach((b, j) => {
    words[j] = b.t.offset;
  });
  words[8] = k.groups ?? k.threads ?? 0;
  const params = k.params ?? [];
  if (params.length > 64 - 9) throw new RangeError('kernel: too many parameters');
  params.forEach(([, kind, v], j) => {
    words[9 + j] = bits(kind, v);
  });
  const offset = paramSlot(gpu, words); // may submit the pending work: take the encoder after
  const x = Math.min(groups, 65535);
  if (cached(owner)) {
    const { pipeline, layout } = cachedKernel(owner, k);
    const buffers: GPUBuffer[] = [];
    for (const b of k.binds) buffers.push(...b.t.storage.buffers);
    const group = bindGroupFor(gpu, layout, buffers);
    const pass = computePass(gpu);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group, [offset]);
    pass.dispatchWorkgroups(x, Math.ceil(groups / x), 1);
    return;
  }
  const pipeline = pipelineFor(gpu, wgsl(k, owner.layout.nativeF16));
  const entries: GPUBindGroupEntry[] = [
    { binding: 0, resource: { buffer: gpu.ring, offset, size: PARAM_SLOT } },
  ];
  for (const b of k.binds) {
    for (const buffer of b.t.storage.buffers) entries.push({ binding: entries.length, resource: { buffer } });
  }
  const group = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const pass = encoder(gpu).beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x), 1);
  pass.end();
}

/** A temporary tensor for one op, its buffers returned to the pool once its passes are encoded. */
export function tempTensor(
  owner: Owner,
  temps: GPUBuffer[],
  shape: readonly number[],
  dtype: DType,
): WebGpuTensor {
  const storage = newStorage(owner, shape, dtype, 'scratch', 0);
  temps.push(...storage.buffers);
  return makeTensor(storage, shape, dtype);
}

/** Copies the words holding view `t` to temporary buffers (breaks read/write aliasing). */
function detach(owner: Owner, temps: GPUBuffer[], t: WebGpuTensor): WebGpuTensor {
  const bpe = dtypeBytes(t.dtype);
  const start = Math.floor((t.offset * bpe) / 4);
  const end = Math.ceil(((t.offset + count(t)) * bpe) / 4);
  if (segments(t) > 1) {
    // Same layout, so the kernel's segment constants hold for the copy.
    const storage = copyStorage(owner, t.storage, start, end, encoder(owner.gpu));
    temps.push(...storage.buffers);
    return makeTensor(storage, t.shape, t.dtype, t.offset, true);
  }
  const copy = tempTensor(owner, temps, [Math.max(1, ((end - start) * 4) / bpe)], t.dtype);
  if (end > start)
    encoder(owner.gpu).copyBufferToBuffer(
      t.storage.buffers[0]!,
      start * 4,
      copy.storage.buffers[0]!,
      0,
      (end - start) * 4,
    );
  return makeTensor(copy.storage, t.shape, t.dtype, t.offset - (start * 4) / bpe, true);
}

/** Unpacks a 16-bit view into f32 `dst`. */
export function unpackKernel(src: WebGpuTensor, dst: WebGpuTensor): Kernel {
  return {
    binds: [
      { name: 's', t: src },
      { name: 'd', t: dst, access: 'write' },
    ],
    body: '  st_d(i, ld_s(i));',
    threads: count(src),
  };
}

/**
 * Writes the 16-bit view `dst` word by word: element `e < n` gets `val16(e)` (a WGSL function
 * from `decl`); the other half of a boundary word keeps its bits.
 */
export function wordWriter(
  dst: WebGpuTensor,
  binds: Bind[],
  decl: string,
  params: readonly Param[] = [],
): Kernel {
  const n = count(dst);
  const first = dst.offset >> 1;
  const last = n === 0 ? first - 1 : (dst.offset + n - 1) >> 1;
  const d = (w: string) => wordAt(dst, 'd', w);
  return {
    binds: [{ name: 'd', t: dst, access: 'raw' }, ...binds],
    params: [['n', 'u', n], ...params],
    decl,
    body: `  let o = o_d();
  let wi = (o >> 1u) + i;
  var word = ${d('wi')};
  for (var h = 0u; h < 2u; h++) {
    let e = wi * 2u + h;
    if (e >= o && e < o + p_n()) {
      let b = val16(e - o) & 0xffffu;
      word = (word & ~(0xffffu << (16u * h))) | (b << (16u * h));
    }
  }
  ${setWord(dst, 'd', 'wi', 'word')}`,
    threads: last - first + 1,
  };
}

/** Packs f32 `src` into the 16-bit view `dst` (round to nearest even). */
export function packKernel(src: WebGpuTensor, dst: WebGpuTensor): Kernel {
  return wordWriter(dst, [{ name: 's', t: src }], 'fn val16(e: u32) -> u32 { return to16_d(ld_s(e)); }');
}

/**
 * Encodes a sequence of kernels into the pending command encoder. Packed 16-bit `write`/`rw`
 * outputs go through f32 scratch (unpacked first for `rw` or `partial`, packed after); native f16
 * outputs are written directly; inputs that share a buffer with an output are read from a copy.
 */
export function run(owner: Owner, kernels: Kernel[]): void {
  const native = owner.layout.nativeF16;
  const temps: GPUBuffer[] = [];
  try {
    for (const k of kernels) {
      const after: Kernel[] = [];
      const binds = k.binds.map((b) => {
        const access = b.access ?? 'read';
        const scratched = access === 'write' || access === 'rw';
        if (scratched && is16(b.t.dtype) && bindKind(b, native) === 'u32') {
          const scratch = tempTensor(owner, temps, b.t.shape, 'f32');
          if (access === 'rw' || k.partial) encodePass(owner, unpackKernel(b.t, scratch));
          after.push(packKernel(scratch, b.t));
          return { ...b, t: scratch };
        }
        return b;
      });
      const written = new Set(
        binds.filter((b) => (b.access ?? 'read') !== 'read').map((b) => b.t.storage.buffers[0]),
      );
      const final = binds.map((b) =>
        (b.access ?? 'read') === 'read' && written.has(b.t.storage.buffers[0])
          ? { ...b, t: detach(owner, temps, b.t) }
          : b,
      );
      encodePass(owner, { ...k, binds: final });
      for (const a of after) encodePass(owner, a);
    }
  } finally {
    // Temporaries go back to the pool now: a later op that takes one clears it after these passes.
    for (const b of temps) releaseBuffer(owner.gpu, b);
  }
  opEncoded(owner.gpu);
}
