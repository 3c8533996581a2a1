/**
 * Test helper (not a test): writes tokens of two requests into chosen blocks of a paged latent
 * cache, then checks `mlaDecode` against float64 attention, `gatherCache` and a download of the
 * touched blocks bit for bit (written rows hold the tokens, every other row stays zero).
 */
import type { FloatDType, Tensor } from '@dcp/backend';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '@dcp/backend';
import { createRng } from '@dcp/backend/testing';
import { expect } from 'vitest';
import type { WebgpuMlaBackend } from './backend.js';
import type { WebGpuTensor } from './tensor.js';

/** A cache and the requests written into it. */
export interface CacheCase {
  dtype: FloatDType;
  numBlocks: number;
  blockSize: number;
  /** kvLoraRank and ropeDim. */
  L: number;
  R: number;
  /** Block-table rows (physical block ids) of the two requests, and their token counts. */
  tables: number[][];
  lens: number[];
  heads?: number;
  seed?: number;
}

/** Values exactly representable in `dtype`. */
function rounded(x: Float32Array, dtype: FloatDType): Float32Array {
  if (dtype === 'bf16') return bf16ToF32(f32ToBf16(x));
  if (dtype === 'f16') return f16ToF32(f32ToF16(x));
  return x;
}

/** The 16-bit (or f32) bits of `dtype` as numbers, for exact comparisons. */
function bitsOf(x: Float32Array, dtype: FloatDType): number[] {
  if (dtype === 'bf16') return Array.from(f32ToBf16(x));
  if (dtype === 'f16') return Array.from(f32ToF16(x));
  return Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
}

function hostBits(data: unknown, dtype: FloatDType): number[] {
  if (dtype === 'f32') {
    const f = data as Float32Array;
    return Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));
  }
  return Array.from(data as Uint16Array);
}

/** Runs the case on `b`; returns the cache (still allocated; the caller disposes it). */
export async function checkCache(b: WebgpuMlaBackend, c: CacheCase): Promise<WebGpuTensor> {
  const rng = createRng(c.seed ?? 7);
  const { blockSize: B, L, R, dtype } = c;
  const W = L + R;
  const H = c.heads ?? 4;
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  const cache = b.alloc([c.numBlocks, B, W], dtype);
  // Tokens of both requests, with an unowned token (slot −1) after every third.
  const slots: number[] = [];
  const rows: Float32Array[] = [];
  const stored = new Map<number, Float32Array>();
  c.lens.forEach((len, r) => {
    for (let p = 0; p < len; p++) {
      const row = rounded(rand(W), dtype);
      const slot = c.tables[r]![Math.floor(p / B)]! * B + (p % B);
      slots.push(slot);
      rows.push(row);
      stored.set(slot, row);
      if (p % 3 === 2) {
        slots.push(-1);
        rows.push(rand(W).map((v) => v + 100)); // must never land anywhere
      }
    }
  });
  const n = slots.length;
  const kvC = new Float32Array(n * L);
  const kPe = new Float32Array(n * R);
  rows.forEach((row, t) => {
    kvC.set(row.subarray(0, L), t * L);
    kPe.set(row.subarray(L), t * R);
  });
  const up = (x: Float32Array | Int32Array, shape: number[]) =>
    b.upload(x, shape, x instanceof Int32Array ? 'i32' : 'f32');
  b.writeKv(up(kvC, [n, L]), up(kPe, [n, R]), up(Int32Array.from(slots), [n]), cache);

  // Decode: token r attends to request r's keys.
  const maxBlocks = Math.max(...c.tables.map((t) => t.length));
  const table = Int32Array.from(c.tables.flatMap((t) => [...t, ...Array(maxBlocks - t.length).fill(0)]));
  const q = rand(2 * H * W);
  const scale = 1 / Math.sqrt(W);
  const out = b.alloc([2, H, L], 'f32');
  const lse = b.alloc([2, H], 'f32');
  const meta = { blockTable: up(table, [2, maxBlocks]), seqLens: up(Int32Array.from(c.lens), [2]) };
  b.mlaDecode(up(q, [2, H, W]), cache, meta, scale, out, lse);
  const gotOut = (await b.download(out)) as Float32Array;
  const gotLse = (await b.download(lse)) as Float32Array;
  let maxOut = 0;
  let errOut = 0;
  let errLse = 0;
  c.lens.forEach((len, r) => {
    const keys = Array.from({ length: len }, (_, p) =>
      stored.get(c.tables[r]![Math.floor(p / B)]! * B + (p % B)),
    ) as Float32Array[];
    for (let h = 0; h < H; h++) {
      const qo = (r * H + h) * W;
      const s = keys.map((k) => {
        let d = 0;
        for (let j = 0; j < W; j++) d += q[qo + j]! * k[j]!;
        return d * scale;
      });
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, x) => a + x, 0);
      errLse = Math.max(errLse, Math.abs(gotLse[r * H + h]! - (m + Math.log(z))));
      for (let j = 0; j < L; j++) {
        let v = 0;
        keys.forEach((k, i) => {
          v += e[i]! * k[j]!;
        });
        const want = v / z;
        maxOut = Math.max(maxOut, Math.abs(want));
        errOut = Math.max(errOut, Math.abs(gotOut[(r * H + h) * L + j]! - want));
      }
    }
  });
  expect(errLse, 'decode LSE').toBeLessThan(1e-4);
  expect(errOut / maxOut, 'decode output').toBeLessThan(1e-4);

  // Gather request 1 from position 1 and request 0 whole: a raw copy of the stored rows.
  const starts = [0, 1];
  const counts = [c.lens[0]!, c.lens[1]! - 1];
  const dst = b.alloc([counts[0]! + counts[1]!, W], dtype);
  b.gatherCache(
    cache,
    {
      blockTable: meta.blockTable,
      cuSeqLens: up(Int32Array.from([0, counts[0]!, counts[0]! + counts[1]!]), [3]),
      seqStarts: up(Int32Array.from(starts), [2]),
    },
    dst,
  );
  const want: number[] = [];
  counts.forEach((cnt, r) => {
    for (let j = 0; j < cnt; j++) {
      const p = starts[r]! + j;
      want.push(...bitsOf(stored.get(c.tables[r]![Math.floor(p / B)]! * B + (p % B))!, dtype));
    }
  });
  expect(hostBits(await b.download(dst), dtype), 'gathered rows').toEqual(want);

  // Every touched block, through a view: written rows exact, all others still zero.
  const zero = new Float32Array(W);
  for (const blk of new Set(c.tables.flat())) {
    const got = hostBits(await b.download(b.sliceRows(cache, blk, 1)), dtype);
    const expected: number[] = [];
    for (let s = 0; s < B; s++) expected.push(...bitsOf(stored.get(blk * B + s) ?? zero, dtype));
    expect(got, `block ${blk}`).toEqual(expected);
  }
  return cache;
}

/** Tensors a kernel reading `t` binds for it. */
export function buffersOf(t: Tensor): number {
  return (t as WebGpuTensor).storage.buffers.length;
}
