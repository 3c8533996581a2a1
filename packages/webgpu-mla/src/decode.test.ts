/**
 * Decode shapes the suite's small cases do not reach: DeepSeek's 576-wide latent with 16 heads
 * (several key tiles and KV splits per token, 8 or 16 heads per workgroup), odd latent widths
 * (the element-wise loader and the odd tail), and a bf16 cache, each merged over DCP ranks and
 * compared with dense float64 attention by the suite's scenario. Then direct decode calls against
 * float64 attention on every kernel (flash, tiled with and without subgroups, compact — each
 * call also checks which one ran): 4/8/16 heads per workgroup and a partial head chunk, vector
 * and element-wise cache loads in every dtype, a cache split over several buffers, one split
 * writing the result itself, and many splits merged by the workgroup merge.
 */
import type { FloatDType } from '@dcp/backend';
import { createCaseContext, createRng, dcpDecodeScenario, encode, refAttend } from '@dcp/backend/testing';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, describe, expect, it } from 'vitest';
import { wrapHostCommunicator } from './comm.js';
import type { DecodeKernelRun } from './decode-options.js';
import { dawnGpu, platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const base = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(base);
const communicators = (n: number) => createLocalCommunicators(n).map(wrapHostCommunicator);

/** The descriptor with its cache dtype forced (the scenario takes f32 whenever it is offered). */
function withKv(kv: FloatDType) {
  return {
    ...base,
    create: async (o: Parameters<typeof base.create>[0]) => {
      const b = await base.create(o);
      return { ...b, capabilities: { ...b.capabilities, kvCacheDtypes: [kv] } };
    },
  };
}

const cases = [
  {
    name: 'latent 512+64, 8 heads per rank, W=2, bf16 cache',
    kv: 'bf16',
    L: 512,
    R: 64,
    hl: 8,
    w: 2,
    lens: [0, 1, 300, 97],
  },
  { name: 'latent 512+64, 16 heads, W=1, f32 cache', kv: 'f32', L: 512, R: 64, hl: 16, w: 1, lens: [200, 5] },
  {
    name: 'odd latent 11+4, 3 heads per rank, W=2, f16 cache',
    kv: 'f16',
    L: 11,
    R: 4,
    hl: 3,
    w: 2,
    lens: [70, 0, 33],
  },
  {
    name: 'odd latent 11+4, 5 heads, W=3, bf16 cache, a2a',
    kv: 'bf16',
    L: 11,
    R: 4,
    hl: 5,
    w: 3,
    lens: [150, 2],
  },
] as const;

describe.skipIf(!adapter)('webgpu-mla decode beyond the suite', () => {
  afterAll(() => base.close());
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = createCaseContext({ descriptor: withKv(c.kv), communicators }, c.name);
      try {
        await dcpDecodeScenario(ctx, {
          dcp: c.w,
          interleave: 1,
          mode: c.name.endsWith('a2a') ? 'a2a' : 'ag_rs',
          blockSize: 16,
          lens: [...c.lens],
          kvLoraRank: c.L,
          ropeDim: c.R,
          headsPerRank: c.hl,
        });
      } finally {
        ctx.dispose();
      }
    }, 300_000);
  }
});

/**
 * A Dawn GPU whose adapter hides `subgroups` (the kernels' plain path) and/or presents itself as
 * hardware (the split heuristics of a real GPU: many splits per token).
 */
function proxyGpu(o: { noSubgroups?: boolean; hardware?: boolean }): () => Promise<GPU | null> {
  let real: GPU | null = null;
  return async () => {
    real ??= await dawnGpu();
    const gpu = real;
    if (!gpu) return null;
    return {
      requestAdapter: async (opts?: GPURequestAdapterOptions) => {
        const a = await gpu.requestAdapter(opts);
        if (!a) return a;
        return new Proxy(a, {
          get(t, p) {
            if (p === 'features' && o.noSubgroups)
              return new Set([...t.features].filter((f) => f !== 'subgroups'));
            if (p === 'info' && o.hardware)
              return {
                vendor: 'test',
                architecture: 'test',
                description: 'presented as hardware',
                isFallbackAdapter: false,
              };
            if (p === 'isFallbackAdapter' && o.hardware) return false;
            const v = Reflect.get(t, p, t);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      },
    } as unknown as GPU;
  };
}

interface Direct {
  name: string;
  H: number;
  L: number;
  R: number;
  kv: FloatDType;
  page: number;
  lens: number[];
  /** Block-table row of each token (tokenToRow); default token t uses row t. */
  rows?: number[];
  qDtype?: FloatDType;
  /** Block-table width beyond what the lengths need (more splits on a hardware-like adapter). */
  mb?: number;
  /**
   * Key j of each row scaled by 1 + ramp·j/100, so the scores' maxima keep growing along the
   * keys (the flash kernel's rescale branch runs many times, not only at its first step).
   */
  ramp?: number;
}

type Descriptor = ReturnType<typeof platformDescriptor>;

/**
 * One decode call on fresh random data against float64 attention; `kernel`: the kernel that
 * must have run for rows of whole 8-element chunks (element-wise rows always run the compact one).
 */
async function checkDecode(d: Descriptor, c: Direct, seed: number, kernel?: DecodeKernelRun): Promise<void> {
  const b = await d.create({ config: undefined as never });
  try {
    const rng = createRng(seed);
    const W = c.L + c.R;
    const n = c.lens.length;
    const rows = c.rows ?? c.lens.map((_, t) => t);
    const nr = Math.max(...rows) + 1;
    const need = Math.max(1, ...c.lens.map((l) => Math.ceil(l / c.page)));
    const mb = c.mb ?? need;
    const nb = nr * need + 1;
    const raw = rng.normals(nb * c.page * W);
    const perm = rng.permutation(nb);
    const bt = new Int32Array(nr * mb).fill(-1);
    for (let r = 0; r < nr; r++) for (let i = 0; i < need; i++) bt[r * mb + i] = perm[r * need + i]!;
    if (c.ramp)
      for (let r = 0; r < nr; r++)
        for (let key = 0; key < need * c.page; key++) {
          const at = (perm[r * need + Math.floor(key / c.page)]! * c.page + (key % c.page)) * W;
          for (let x = 0; x < W; x++) raw[at + x]! *= 1 + (c.ramp * key) / 100;
        }
    const cache = encode(raw, c.kv);
    const q = encode(rng.normals(n * c.H * W), c.qDtype ?? 'f32');
    // Each token sees at most its row's blocks.
    const lens = c.lens.map((l) => Math.min(l, need * c.page));
    const tq = b.upload(q.data, [n, c.H, W], c.qDtype ?? 'f32');
    const tc = b.upload(cache.data, [nb, c.page, W], c.kv);
    const tbt = b.upload(bt, [nr, mb], 'i32');
    const tl = b.upload(Int32Array.from(lens), [n], 'i32');
    const trow = c.rows ? b.upload(Int32Array.from(rows), [n], 'i32') : undefined;
    const out = b.alloc([n, c.H, c.L], 'f32');
    const lse = b.alloc([n, c.H], 'f32');
    const scale = 1 / Math.sqrt(W);
    b.mlaDecode(tq, tc, { blockTable: tbt, seqLens: tl, tokenToRow: trow }, scale, out, lse);
    if (kernel) expect(b.lastDecodeKernel(), `${c.name}: kernel`).toBe(W % 8 === 0 ? kernel : 'compact');
    const got = (await b.download(out)) as Float32Array;
    const gotL = (await b.download(lse)) as Float32Array;
    let worst = 0;
    for (let t = 0; t < n; t++) {
      const keys = Array.from({ length: lens[t]! }, (_, j) => {
        const at = (bt[rows[t]! * mb + Math.floor(j / c.page)]! * c.page + (j % c.page)) * W;
        return (p: number) => cache.stored[at + p]!;
      });
      for (let h = 0; h < c.H; h++) {
        const r = t * c.H + h;
        if (keys.length === 0) {
          expect(gotL[r], `${c.name}: empty token ${t} head ${h} LSE`).toBe(Number.NEGATIVE_INFINITY);
          for (let x = 0; x < c.L; x++) expect(got[r * c.L + x]).toBe(0);
          continue;
        }
        const ref = refAttend((p) => q.stored[r * W + p]!, W, keys, keys, c.L, scale);
        let rms = 0;
        for (const v of ref.out) rms += v * v;
        rms = Math.sqrt(rms / c.L);
        for (let x = 0; x < c.L; x++) {
          const e = ref.out[x]!;
          worst = Math.max(worst, Math.abs(got[r * c.L + x]! - e) / (Math.abs(e) + rms));
        }
        worst = Math.max(worst, Math.abs(gotL[r]! - ref.lse) / (1 + Math.abs(ref.lse)));
      }
    }
    expect(worst, `${c.name}: max normalised error`).toBeLessThan(1e-4);
  } finally {
    b.destroy();
  }
}

const direct: Direct[] = [
  {
    name: '4 heads over latent 512+64, bf16 (4 keys per lane, several tiles)',
    H: 4,
    L: 512,
    R: 64,
    kv: 'bf16',
    page: 16,
    lens: [700, 3, 0],
  },
  {
    name: '4 heads over 512+64, bf16, keys growing along the row (maxima keep rising)',
    H: 4,
    L: 512,
    R: 64,
    kv: 'bf16',
    page: 16,
    lens: [900, 450],
    ramp: 2,
  },
  {
    name: '16 heads over 96+32, bf16, tokenToRow, bf16 queries',
    H: 16,
    L: 96,
    R: 32,
    kv: 'bf16',
    page: 16,
    lens: [300, 1, 129, 40],
    rows: [2, 0, 1, 2],
    qDtype: 'bf16',
  },
  {
    // 24 value words are no whole number of lane pairs' chunks: the flash kernel loads one word
    // per lane (FlashPlan.V = 1) here, pairs everywhere else.
    name: '20 heads (a partial second chunk) over 48+16, f16',
    H: 20,
    L: 48,
    R: 16,
    kv: 'f16',
    page: 8,
    lens: [140, 33],
  },
  { name: 'f32 cache, 8 heads over 64+8', H: 8, L: 64, R: 8, kv: 'f32', page: 16, lens: [90, 200] },
  {
    // A flash step's keys share one block when the block size is a multiple of its keys per
    // step (every case above); blocks of 5 keys take the per-key lookups, steps straddling blocks.
    name: 'bf16 cache, 4 heads over 64+16, blocks of 5 keys',
    H: 4,
    L: 64,
    R: 16,
    kv: 'bf16',
    page: 5,
    lens: [97, 23, 5],
  },
  {
    name: 'odd latent 11+4 (element loads), 3 heads, 8 tokens (one split writes the result)',
    H: 3,
    L: 11,
    R: 4,
    kv: 'bf16',
    page: 4,
    lens: [40, 7, 0, 1, 13, 9, 2, 30],
  },
];

const tiled = { allowSoftware: true, decodeKernel: 'tiled' } as const;

// The flash kernel needs one subgroup size of at least 8 lanes (lavapipe: 8; NVIDIA: 32).
const sizes = adapter?.subgroupSizes;
const flashHere = adapter?.features.subgroups === true && sizes?.min === sizes?.max && (sizes?.min ?? 0) >= 8;
const paths: [string, Descriptor, DecodeKernelRun][] = [
  [
    'flash kernel',
    platformDescriptor({ allowSoftware: true, decodeKernel: 'flash' }),
    flashHere ? 'flash' : 'tiled',
  ],
  ['tiled kernel, subgroups where the adapter has them', platformDescriptor(tiled), 'tiled'],
  [
    'tiled kernel, no subgroups',
    platformDescriptor({ ...tiled, requestGpu: proxyGpu({ noSubgroups: true }) }),
    'tiled',
  ],
  ['compact kernel', platformDescriptor({ allowSoftware: true, decodeKernel: 'compact' }), 'compact'],
];

describe.skipIf(!adapter)('webgpu-mla decode kernel paths against float64 attention', () => {
  const extra: Descriptor[] = [];
  afterAll(async () => {
    for (const [, d] of paths) await d.close();
    for (const d of extra) await d.close();
  });
  for (const [pname, d, kernel] of paths) {
    direct.forEach((c, i) => {
      // lavapipe compiles each new kernel in seconds to tens of seconds (LLVM, 256 invocations).
      it(`${c.name} (${pname})`, () => checkDecode(d, c, 100 + i, kernel), 600_000);
    });
  }
  it('flash kernel, 4 rope words: fewer than the lanes, so only some lanes load (and pick) one', () => {
    const c: Direct = {
      name: 'bf16 cache, 4 heads over 64+8',
      H: 4,
      L: 64,
      R: 8,
      kv: 'bf16',
      page: 16,
      lens: [75, 130],
    };
    return checkDecode(paths[0]![1], c, 12, paths[0]![2]);
  }, 600_000);
  /** A flash descriptor whose backends take `flashHeads: heads`. */
  const flashWithHeads = (heads: 1 | 2 | 4 | 8): Descriptor => {
    const d = platformDescriptor({ allowSoftware: true, decodeKernel: 'flash' });
    extra.push(d);
    return {
      ...d,
      create: async (o: Parameters<typeof d.create>[0]) => {
        const b = await d.create(o);
        b.setDecodeOptions({ flashHeads: heads });
        return b;
      },
    };
  };
  it('flash kernel with 8 heads per workgroup', async () => {
    const c = direct[1]!;
    await checkDecode(
      flashWithHeads(8),
      { ...c, name: `${c.name}, 8 heads per workgroup` },
      11,
      flashHere ? 'flash' : 'tiled',
    );
  }, 600_000);
  // 1 or 2 heads take plans of exactly those heads (scalar or vec2 head vectors), not 4 padded.
  const fewHeads: Direct[] = [
    {
      name: '2 heads over 64+16, bf16 (value words in lane pairs)',
      H: 2,
      L: 64,
      R: 16,
      kv: 'bf16',
      page: 16,
      lens: [75, 130, 1],
    },
    {
      name: '1 head over 48+16, f16, keys growing',
      H: 1,
      L: 48,
      R: 16,
      kv: 'f16',
      page: 8,
      lens: [61, 200],
      ramp: 3,
    },
  ];
  fewHeads.forEach((c, i) => {
    it(`flash kernel, ${c.name}`, () => checkDecode(paths[0]![1], c, 40 + i, paths[0]![2]), 600_000);
  });
  it('flash kernel, 1 head in a 2-head plan (the padded head computed, never written)', async () => {
    const c: Direct = {
      name: '1 head over 64+16, bf16',
      H: 1,
      L: 64,
      R: 16,
      kv: 'bf16',
      page: 16,
      lens: [90, 33],
    };
    await checkDecode(flashWithHeads(2), c, 42, paths[0]![2]);
  }, 600_000);
  it('a cache split over several buffers: vector loads (every kernel) and element-wise loads', async () => {
    const seg = (maxSegmentBytes: number, decodeKernel: 'flash' | 'tiled' | 'compact') =>
      platformDescriptor({ allowSoftware: true, maxSegmentBytes, decodeKernel });
    // 5 buffers of 16 blocks (a narrower latent than DeepSeek's keeps lavapipe's compiles short).
    const wideSeg = 16 * 16 * 128 * 2;
    // Element-wise rows take the compact kernel whatever is asked (see decode.ts).
    const b = seg(5 * 4 * 15 * 2, 'tiled');
    const kernels = (['flash', 'tiled', 'compact'] as const).map((k) => [k, seg(wideSeg, k)] as const);
    extra.push(b, ...kernels.map(([, d]) => d));
    const wide: Direct = {
      name: 'segmented 96+32',
      H: 8,
      L: 96,
      R: 32,
      kv: 'bf16',
      page: 16,
      lens: [500, 260],
    };
    for (const [k, d] of kernels)
      await checkDecode(
        d,
        { ...wide, name: `${wide.name}, ${k}` },
        7,
        k === 'flash' && !flashHere ? 'tiled' : k,
      );
    await checkDecode(
      b,
      { name: 'segmented 11+4', H: 3, L: 11, R: 4, kv: 'bf16', page: 4, lens: [40, 37] },
      8,
    );
    await checkDecode(
      b,
      { name: 'segmented 11+4, f32', H: 2, L: 11, R: 4, kv: 'f32', page: 4, lens: [17, 9, 1] },
      18,
    );
  }, 600_000);
  it('many splits per token merged by the workgroup merge (hardware split heuristics)', async () => {
    const h = platformDescriptor({ allowSoftware: true, requestGpu: proxyGpu({ hardware: true }) });
    extra.push(h);
    await checkDecode(
      h,
      { name: 'wide merge', H: 16, L: 96, R: 32, kv: 'bf16', page: 16, lens: [1000, 17, 0], mb: 300 },
      9,
    );
  }, 600_000);
});
