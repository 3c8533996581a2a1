/**
 * The cached launch path (`hostCache`, default on): the structural kernel key decides the WGSL
 * text exactly; dispatches that share a compute pass stay ordered with the copies and clears
 * recorded between them (host writes, pooled buffers taken again); results against float64 and
 * bit-equal to the per-op path (`hostCache: false`).
 */
import { createRng } from '@dcp/backend/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { platformDescriptor } from './node.js';
import { type Kernel, kernelKey, wgsl } from './run.js';
import { makeTensor, type Storage, type WebGpuTensor } from './tensor.js';
import { adapterOrSkip } from './test-adapter.js';

/** A host-only tensor stand-in: only dtype, shape and the storage's segment layout matter to the text. */
function fake(dtype: 'f32' | 'bf16' | 'f16' | 'i32', buffers: number, segWords = 64): WebGpuTensor {
  const storage = { buffers: new Array(buffers).fill({}), segWords, owner: null, disposed: false };
  return makeTensor(storage as unknown as Storage, [8], dtype);
}

describe('kernelKey', () => {
  it('is equal exactly when the generated WGSL is equal, over random kernel variants', () => {
    const rng = createRng(5);
    const pick = <T>(a: readonly T[]): T => a[rng.int(0, a.length - 1)]!;
    const byKey = new Map<string, string>();
    const texts = new Set<string>();
    for (let n = 0; n < 400; n++) {
      const k: Kernel = {
        binds: [
          { name: pick(['x', 'y']), t: fake(pick(['f32', 'bf16', 'f16', 'i32']), pick([1, 2])) },
          {
            name: 'd',
            t: fake(pick(['f32', 'f16', 'bf16']), pick([1, 3]), pick([64, 128])),
            access: pick(['write', 'rw', 'raw', 'read'] as const),
          },
        ],
        params: pick([[], [['n', 'u', rng.int(0, 9)]], [['e', 'f', rng.next()]]] as const),
        body: pick(['  st_d(i, 1.0);', '  _ = i;']),
        decl: pick([undefined, 'const Z = 1u;']),
        size: pick([64, 128]),
        threads: rng.int(1, 100),
        ...(rng.next() < 0.3 ? { groups: rng.int(1, 9), threads: undefined } : {}),
        subgroups: rng.next() < 0.2,
      };
      for (const native of [false, true]) {
        const text = wgsl(k, native);
        const key = kernelKey(k, native);
        const seen = byKey.get(key);
        if (seen !== undefined) expect(seen).toBe(text);
        byKey.set(key, text);
        texts.add(text);
      }
    }
    expect(texts.size).toBeGreaterThan(20);
  });

  it('ignores parameter values, offsets and counts; follows names, dtypes, access and segments', () => {
    const k = (over: Partial<Kernel> = {}, t = fake('bf16', 1)): Kernel => ({
      binds: [{ name: 'x', t }],
      params: [['n', 'u', 3]],
      body: '  _ = ld_x(i);',
      threads: 10,
      ...over,
    });
    const base = kernelKey(k(), false);
    const moved = makeTensor(fake('bf16', 1).storage, [8], 'bf16', 5, true);
    expect(kernelKey(k({ params: [['n', 'u', 99]], threads: 7 }, moved), false)).toBe(base);
    for (const other of [
      k({ params: [['m', 'u', 3]] }),
      k({ params: [['n', 'i', 3]] }),
      k({}, fake('f16', 1)),
      k({}, fake('bf16', 2)),
      k({ binds: [{ name: 'x', t: fake('bf16', 1), access: 'rw' }] }),
      k({ body: '  _ = ld_x(i + 1u);' }),
    ]) {
      expect(kernelKey(other, false)).not.toBe(base);
    }
    expect(kernelKey(k({}, fake('bf16', 2, 64)), false)).not.toBe(
      kernelKey(k({}, fake('bf16', 2, 32)), false),
    );
  });
});

const fast = platformDescriptor({ allowSoftware: true });
const slow = platformDescriptor({ allowSoftware: true, hostCache: false });
const adapter = await adapterOrSkip(fast);

describe.skipIf(!adapter)('webgpu-mla cached launches', () => {
  afterAll(async () => {
    await fast.close();
    await slow.close();
  });

  it('keeps dispatches ordered with host writes and reused pooled buffers; equals the per-op path', async () => {
    const outs: Float32Array[] = [];
    for (const d of [fast, slow]) {
      const b = await d.create();
      const rng = createRng(21);
      const n = 300;
      const rand = () => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
      const xs = [rand(), rand(), rand()];
      const w = Float32Array.from({ length: n }, () => 0.5 + rng.next());
      const acc = b.upload(xs[0]!, [1, n], 'f32');
      const x = b.alloc([1, n], 'f32');
      const want = Float64Array.from(xs[0]!);
      for (let step = 1; step < 3; step++) {
        // A host write between dispatches, then ops that read it.
        b.write(x, xs[step]!);
        b.add(acc, x, acc);
        for (let j = 0; j < n; j++) want[j]! += xs[step]![j]!;
        // A temporary freed and a new tensor taken from the pool must come back zero-filled.
        const tmp = b.upload(w, [1, n], 'f32');
        b.add(acc, tmp, acc);
        b.dispose(tmp);
        const fresh = b.alloc([1, n], 'f32');
        b.add(acc, fresh, acc);
        for (let j = 0; j < n; j++) want[j]! += w[j]!;
        b.dispose(fresh);
      }
      const wt = b.upload(w, [n], 'f32');
      const out = b.alloc([1, n], 'f32');
      b.rmsNorm(acc, wt, 1e-6, out);
      let ss = 0;
      for (const v of want) ss += v * v;
      const r = 1 / Math.sqrt(ss / n + 1e-6);
      const got = (await b.download(out)) as Float32Array;
      for (let j = 0; j < n; j++) expect(got[j]!).toBeCloseTo(want[j]! * r * w[j]!, 4);
      outs.push(got);
      b.destroy();
    }
    expect(Array.from(outs[0]!)).toEqual(Array.from(outs[1]!));
  });

  it("keeps every op's parameters when a batch's slots wrap around the parameter ring", async () => {
    // Slots reach the GPU in one write per submitted batch; a download between ops shifts the
    // batches so that one of the 1100 ops below straddles the ring's end. Each add has its own
    // length (its thread count is a parameter): a slot written to the wrong place would give an
    // op another's count and leave elements unwritten (zero) or clamp.
    // Two rounds whose batches start 1107 slots apart: at least one has a batch over the end.
    const b = await fast.create();
    const rng = createRng(33);
    for (const warmOps of [5, 7]) {
      const warm = b.alloc([5], 'f32');
      for (let i = 0; i < warmOps; i++) b.add(warm, warm, warm);
      await b.download(warm);
      const ops = Array.from({ length: 1100 }, (_, i) => {
        const n = 1 + ((i * 37) % 97);
        const x = Float32Array.from({ length: n }, () => rng.next() + 1);
        const y = Float32Array.from({ length: n }, () => rng.next() + 1);
        const out = b.alloc([n], 'f32');
        b.add(b.upload(x, [n], 'f32'), b.upload(y, [n], 'f32'), out);
        return { x, y, out };
      });
      for (const { x, y, out } of ops) {
        const got = (await b.download(out)) as Float32Array;
        expect(Array.from(got)).toEqual(Array.from(x, (v, j) => Math.fround(v + y[j]!)));
      }
    }
    b.destroy();
  });

  it('refuses a hostCache that is not a boolean, naming the option', async () => {
    const bad = platformDescriptor({ allowSoftware: true, hostCache: 'yes' as never });
    await expect(bad.create()).rejects.toThrow(/hostCache: must be a boolean/);
    await bad.close();
  });
});
