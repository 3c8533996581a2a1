/**
 * MLA decode over the paged latent cache, split-KV (flash-decoding). Workgroup = (token, split
 * of its keys, chunk of 4/8/16 heads); the chunk's scaled queries sit in workgroup memory and
 * the split's keys stream through in tiles:
 * - scores: with subgroups, 4 lanes share one key row (16-byte loads, 64 contiguous bytes per
 *   row per load), each lane holds all heads of 2–4 keys and a transposing subgroup butterfly
 *   sums the 4 lanes; without, one invocation per (key, 4 heads) over the whole row;
 * - the tile's max per head, p = exp(s − m) and the running rescale (workgroup-memory
 *   reductions, 3 barriers);
 * - values: each invocation owns 4 heads × 8 columns and reads 16 bytes of each key's row
 *   (coalesced), several key slots per workgroup when there are fewer than 256 such units.
 * Head chunks of one token are adjacent workgroups so they read the same keys together (L2).
 * A second pass merges the splits with their LSEs. WGSL: `decode-kernel.ts`.
 */
import type { DecodeMeta, Tensor } from '@dcp/backend';
import { type FlashPlan, flashFits, flashSharedBytes, flashWgsl, makeFlashPlan } from './decode-flash.js';
import { type CacheLayout, type DecodePlan, decodeWgsl, makePlan, sharedBytes } from './decode-kernel.js';
import type { DecodeKernelRun, DecodeOptions } from './decode-options.js';
import { need } from './dense.js';
import { encoder, opEncoded, PARAM_SLOT, paramSlot, pipelineFor } from './gpu.js';
import { alloc, dispose } from './memory.js';
import { run } from './run.js';
import { arg, count, is16, type Owner, type WebGpuTensor } from './tensor.js';

/** A split kernel's plan: the tiled one (`decode-kernel.ts`) or the streaming one (`decode-flash.ts`). */
type SplitPlan =
  | { kind: 'tiled'; label: 'tiled' | 'compact'; plan: DecodePlan; heads: number; keysPerStep: number }
  | { kind: 'flash'; label: 'flash'; plan: FlashPlan; heads: number; keysPerStep: number };

/**
 * The kernel `d` asks for where it fits. Tiled/compact: the most heads per workgroup (4, 8 or
 * 16; no more than H needs) whose queries and score tile fit in workgroup memory.
 */
function choosePlan(
  H: number,
  W: number,
  L: number,
  o: Owner,
  cache: CacheLayout,
  qDtype: DecodePlan['qDtype'],
  d: DecodeOptions,
  blockSize: number,
): SplitPlan {
  const max = o.gpu.maxWorkgroupStorage;
  const kernel = d.kernel === 'auto' ? autoKernel(o) : d.kernel;
  // Element-wise rows (odd widths: test models) take the compact kernel: the others inline
  // dozens of row loads, each a loop (and a switch over the buffers of a split cache).
  const compact = kernel === 'compact' || !cache.fast;
  const { min: sgMin, max: sgMax } = o.gpu.subgroupSizes;
  const sg = sgMin > 0 ? sgMin : undefined;
  if (kernel === 'flash' && !compact && o.gpu.subgroups && sg !== undefined && sg === sgMax) {
    if (flashFits(cache, L, sg)) {
      const opts = {
        k: d.flashKeys || undefined,
        nsg: d.flashSubgroups,
        pf: d.flashPrefetch,
        blockSize,
      };
      const hs = d.flashHeads || (H <= 2 ? H : 4);
      let plan = makeFlashPlan(hs, sg, W, L, cache, qDtype, opts);
      if (flashSharedBytes(plan) > max) plan = makeFlashPlan(4, sg, W, L, cache, qDtype, opts);
      if (flashSharedBytes(plan) <= max && plan.K * plan.HS <= sg)
        return { kind: 'flash', label: 'flash', plan, heads: plan.HS, keysPerStep: plan.K * plan.NSG };
    }
  }
  // Lanes across a key row: 8 where every subgroup has at least 8 lanes.
  const lpr = (sg ?? 4) >= 8 ? 8 : 4;
  const sub = o.gpu.subgroups && !compact;
  const plan = (hc: number) => makePlan(hc, W, L, sub, cache, qDtype, compact ? { pvu: 1 } : { lpr });
  need(
    sharedBytes(plan(4)) <= max,
    `mlaDecode: latent width ${W} does not fit in workgroup memory (${max} bytes)`,
  );
  let hc = 4;
  while (hc < 16 && hc < H && sharedBytes(plan(hc * 2)) <= max) hc *= 2;
  const p = plan(hc);
  return { kind: 'tiled', label: compact ? 'compact' : 'tiled', plan: p, heads: p.HCP, keysPerStep: p.TK };
}

/**
 * `'auto'`: compact on software adapters; elsewhere the streaming kernel, faster than the tiled
 * one at every shape measured on the H200 (tooling/bench/results/webgpu-h200.md, 2026-11-29):
 * 1.85–2.26× at 1–2 heads, 1.7× at 4, 1.45× at 8, 1.13–1.54× at 16 heads (1 to 128 tokens),
 * 1.17–1.38× at 32–128 heads. `choosePlan` still takes the tiled kernel where the streaming one
 * does not fit.
 */
function autoKernel(o: Owner): 'compact' | 'flash' {
  return o.gpu.software ? 'compact' : 'flash';
}

/** How the kernel reads `cache`: vector loads when rows are 16-byte aligned whole chunks. */
function cacheLayout(cache: WebGpuTensor, W: number): CacheLayout {
  const dtype = cache.dtype as CacheLayout['dtype'];
  const { buffers, segWords } = cache.storage;
  const align = is16(dtype) ? 8 : 4;
  const fast = W % 8 === 0 && cache.offset % align === 0 && (buffers.length === 1 || segWords % 4 === 0);
  return { dtype, fast, segments: buffers.length, segUnits: fast ? segWords / 4 : segWords };
}

/** The one buffer of a small tensor. */
function only(t: WebGpuTensor, field: string): GPUBuffer {
  need(t.storage.buffers.length === 1, `${field}: must fit in one storage binding`);
  return t.storage.buffers[0]!;
}

/**
 * The split kernel's pipeline, cached on the device under a short key of its plan (generating
 * the WGSL costs more host time than a small decode takes on a GPU).
 */
function splitPipeline(o: Owner, sp: SplitPlan): GPUComputePipeline {
  const key = `mla-decode ${sp.kind} ${JSON.stringify(sp.plan)}`;
  let p = o.gpu.pipelines.get(key);
  if (!p) {
    p = pipelineFor(o.gpu, sp.kind === 'flash' ? flashWgsl(sp.plan) : decodeWgsl(sp.plan));
    o.gpu.pipelines.set(key, p);
  }
  return p;
}

/** Encodes the split pass (its own bindings: vector views of the cache). */
function encodeSplit(
  o: Owner,
  plan: SplitPlan,
  words: Uint32Array,
  buffers: GPUBuffer[],
  groups: number,
): void {
  const gpu = o.gpu;
  const offset = paramSlot(gpu, words); // may submit the pending work: take the encoder after
  const pipeline = splitPipeline(o, plan);
  const entries: GPUBindGroupEntry[] = [
    { binding: 0, resource: { buffer: gpu.ring, offset, size: PARAM_SLOT } },
    ...buffers.map((buffer, j) => ({ binding: j + 1, resource: { buffer } })),
  ];
  const group = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const pass = encoder(gpu).beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  const x = Math.min(groups, 65535);
  pass.dispatchWorkgroups(x, Math.ceil(groups / x), 1);
  pass.end();
  opEncoded(gpu);
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

/**
 * The merge for many splits: one workgroup per (row, 32 columns), 8 groups of 32 invocations
 * each summing every 8th split, after a workgroup reduction of the split LSEs' max and weights.
 */
const COMBINE_WIDE = {
  decl: 'var<workgroup> rm: array<f32, 256>;\nvar<workgroup> ra: array<f32, 256>;',
  body: `  let cbn = (p_L() + 31u) / 32u;
  let r = wg / cbn; let cb = wg % cbn;
  var lm = -3.0e38;
  for (var s = lid; s < p_sp(); s += 256u) {
    let b = ldu_pl(r * p_sp() + s);
    if (finite_bits(b)) { lm = max(lm, bitcast<f32>(b)); }
  }
  rm[lid] = lm;
  workgroupBarrier();
  for (var o = 128u; o > 0u; o >>= 1u) { if (lid < o) { rm[lid] = max(rm[lid], rm[lid + o]); } workgroupBarrier(); }
  let m = rm[0];
  var lz = 0.0;
  for (var s = lid; s < p_sp(); s += 256u) {
    let b = ldu_pl(r * p_sp() + s);
    if (finite_bits(b)) { lz += exp(bitcast<f32>(b) - m); }
  }
  ra[lid] = lz;
  workgroupBarrier();
  for (var o = 128u; o > 0u; o >>= 1u) { if (lid < o) { ra[lid] += ra[lid + o]; } workgroupBarrier(); }
  let z = ra[0];
  let col = cb * 32u + lid % 32u; let sg = lid / 32u;
  var acc = 0.0;
  if (col < p_L()) {
    for (var s = sg; s < p_sp(); s += 8u) {
      let b = ldu_pl(r * p_sp() + s);
      if (finite_bits(b)) { acc += exp(bitcast<f32>(b) - m) * ld_po((r * p_sp() + s) * p_L() + col); }
    }
  }
  workgroupBarrier();
  ra[lid] = acc;
  workgroupBarrier();
  if (sg == 0u && col < p_L()) {
    var tot = 0.0;
    for (var k = 0u; k < 8u; k++) { tot += ra[k * 32u + lid]; }
    st_o(r * p_L() + col, select(0.0, tot / z, z > 0.0));
  }
  if (lid == 0u && cb == 0u) { if (z > 0.0) { st_lse(r, m + log(z)); } else { stu_lse(r, NEG_INF_BITS); } }`,
};

/** MLA decode with LSE (natural log) over this rank's paged cache. Returns the kernel it ran. */
export function mlaDecode(
  o: Owner,
  qT: Tensor,
  cacheT: Tensor,
  meta: DecodeMeta,
  scale: number,
  outT: Tensor,
  lseT: Tensor,
  d: DecodeOptions,
): DecodeKernelRun {
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
  if (n === 0 || H === 0) return null;
  need(q.dtype !== 'i32', 'mlaDecode q: must be a float tensor');
  const mb = bt.shape[1]!;
  const plan = choosePlan(H, W, L, o, cacheLayout(cache, W), q.dtype as DecodePlan['qDtype'], d, B);
  const nhc = Math.ceil(H / plan.heads);
  const maxKeys = Math.max(1, mb * B);
  const tiles = Math.ceil(maxKeys / plan.keysPerStep);
  // Enough workgroups to fill the GPU, at least two tiles per split where the keys allow.
  const want = Math.ceil((d.targetGroups || o.gpu.targetGroups) / (n * nhc));
  const chunk = Math.ceil(tiles / Math.max(1, Math.min(want, Math.ceil(tiles / 2), 1024))) * plan.keysPerStep;
  const sp = Math.ceil(maxKeys / chunk);
  const reads = [q, cache, bt, lens, rowT ?? lens].flatMap((t) => t.storage.buffers);
  // One split writes the final result itself (f32 out that no input shares a buffer with).
  const direct =
    sp === 1 &&
    out.dtype === 'f32' &&
    out.storage.buffers.length === 1 &&
    lse.storage.buffers.length === 1 &&
    !reads.includes(out.storage.buffers[0]!) &&
    !reads.includes(lse.storage.buffers[0]!);
  const po = direct ? out : alloc(o, [n * H * sp * L], 'f32', 'mlaDecode partials');
  const pl = direct ? lse : alloc(o, [n * H * sp], 'f32', 'mlaDecode partial LSE');
  const groups = n * nhc * sp;
  const words = new Uint32Array(PARAM_SLOT / 4);
  const f = new Float32Array(words.buffer, 8 * 4, 1);
  words.set([groups, H, B, mb, nhc, sp, chunk, rowT ? 1 : 0]);
  f[0] = scale;
  words.set([q.offset, cache.offset, bt.offset, lens.offset, (rowT ?? lens).offset, po.offset, pl.offset], 9);
  encodeSplit(
    o,
    plan,
    words,
    [
      only(q, 'mlaDecode q'),
      only(bt, 'mlaDecode blockTable'),
      only(lens, 'mlaDecode seqLens'),
      only(rowT ?? lens, 'mlaDecode tokenToRow'),
      only(po, 'mlaDecode out'),
      only(pl, 'mlaDecode lse'),
      ...cache.storage.buffers,
    ],
    groups,
  );
  if (direct) return plan.label;
  run(o, [
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
      ...(sp > 16
        ? { ...COMBINE_WIDE, groups: n * H * Math.ceil(L / 32), size: 256 }
        : { body: COMBINE, threads: n * H * L }),
    },
  ]);
  dispose(o, po);
  dispose(o, pl);
  return plan.label;
}
