import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from './errors.js';
import { openSafetensors, type SafetensorsFile } from './file.js';
import { at, indices, rng, tempDir } from './test-util.js';
import { writeSafetensors } from './writer.js';

let dir: string;
let cleanup: () => Promise<void>;
let file: SafetensorsFile;
const rand = rng(7);

// Values written, kept as plain numbers for the expectations.
const shapes: Record<string, number[]> = {
  m: [6, 10],
  cube: [3, 5, 7],
  h: [4, 9],
  b: [5, 6],
  i: [3, 4],
  l: [2, 3],
  s: [],
};
const values: Record<string, number[]> = {};
const halfBits: number[] = [];
const bfBits: number[] = [];

/** A random value exactly representable in IEEE half, with its bit pattern built from its parts. */
function randomHalf(): [number, number] {
  const sign = rand() < 0.5 ? 1 : 0;
  const mant = Math.floor(rand() * 1024);
  const kind = rand();
  if (kind < 0.1) return [(sign ? -1 : 1) * (mant / 1024) * 2 ** -14, (sign << 15) | mant]; // subnormal
  if (kind < 0.12) return [(sign ? -1 : 1) * Number.POSITIVE_INFINITY, (sign << 15) | 0x7c00];
  const e = Math.floor(rand() * 30) - 14; // normal exponents -14..15
  return [(sign ? -1 : 1) * (1 + mant / 1024) * 2 ** e, (sign << 15) | ((e + 15) << 10) | mant];
}

/** A random bf16 value: a random f32 with its low 16 bits cleared, and its top 16 bits. */
function randomBf16(): [number, number] {
  const f = new Float32Array([(rand() - 0.5) * 2 ** Math.floor(rand() * 40 - 20)]);
  const u = new Uint32Array(f.buffer);
  u[0] = u[0]! & 0xffff0000;
  return [f[0]!, u[0]! >>> 16];
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  for (const k of ['m', 'cube', 's']) {
    values[k] = Array.from({ length: numel(shapes[k]!) }, () => Math.fround(rand() * 2 - 1));
  }
  values.h = [];
  for (let i = 0; i < numel(shapes.h!); i++) {
    const [v, b] = randomHalf();
    values.h.push(v);
    halfBits.push(b);
  }
  values.b = [];
  for (let i = 0; i < numel(shapes.b!); i++) {
    const [v, b] = randomBf16();
    values.b.push(v);
    bfBits.push(b);
  }
  values.i = Array.from({ length: 12 }, () => Math.floor(rand() * 2 ** 32) - 2 ** 31);
  values.l = [0, -1, 2 ** 40, -(2 ** 50), 7, 2 ** 53 - 1];
  await writeSafetensors(
    join(dir, 'good.safetensors'),
    {
      m: { dtype: 'F32', shape: shapes.m!, data: new Float32Array(values.m!) },
      cube: { dtype: 'F32', shape: shapes.cube!, data: new Float32Array(values.cube!) },
      h: { dtype: 'F16', shape: shapes.h!, data: new Uint16Array(halfBits) },
      b: { dtype: 'BF16', shape: shapes.b!, data: new Uint16Array(bfBits) },
      i: { dtype: 'I32', shape: shapes.i!, data: new Int32Array(values.i) },
      l: { dtype: 'I64', shape: shapes.l!, data: new BigInt64Array(values.l.map(BigInt)) },
      s: { dtype: 'F32', shape: [], data: new Float32Array(values.s!) },
    },
    { format: 'pt' },
  );
  file = await openSafetensors(join(dir, 'good.safetensors'));
});
afterAll(async () => {
  await file.close();
  await cleanup();
});

function expected(name: string, ranges: Array<[number, number]>): number[] {
  return [...indices(ranges)].map((idx) => at(values[name]!, shapes[name]!, idx));
}

function full(name: string): Array<[number, number]> {
  return shapes[name]!.map((d): [number, number] => [0, d]);
}

describe('openSafetensors on a good file', () => {
  it('lists tensors with dtypes, shapes and offsets', () => {
    expect(file.names).toEqual(['m', 'cube', 'h', 'b', 'i', 'l', 's']);
    expect(file.info('cube')).toMatchObject({ dtype: 'F32', shape: [3, 5, 7], numel: 105 });
    expect(file.info('h').dataOffsets[1] - file.info('h').dataOffsets[0]).toBe(72);
    expect(file.header.dataStart % 8).toBe(0);
    expect(file.header.metadata.format).toBe('pt');
  });

  it('reads whole F32, F16, BF16, I32, I64 and scalar tensors', async () => {
    expect([...(await file.readF32('m'))]).toEqual(values.m);
    expect([...(await file.readF32('cube'))]).toEqual(values.cube);
    expect([...(await file.readF32('h'))]).toEqual(values.h);
    expect([...(await file.readF32('b'))]).toEqual(values.b);
    expect([...((await file.readTensor('i')).data as Int32Array)]).toEqual(values.i);
    expect([...((await file.readTensor('l')).data as BigInt64Array)]).toEqual(values.l!.map(BigInt));
    const s = await file.readTensor('s');
    expect(s.shape).toEqual([]);
    expect([...s.data]).toEqual(values.s);
  });

  it('returns the raw half bit patterns when asked', async () => {
    const h = await file.readTensor('h', { raw: true, rows: [1, 3] });
    expect([...h.raw!]).toEqual(halfBits.slice(9, 27));
    const b = await file.readTensor('b', { raw: true });
    expect([...b.raw!]).toEqual(bfBits);
    expect((await file.readTensor('b')).raw).toBeUndefined();
  });

  it('reads row, column, per-dimension and ShardSlice-shaped slices', async () => {
    const cases: Array<[string, Parameters<SafetensorsFile['readF32']>[1], Array<[number, number]>]> = [
      [
        'm',
        { rows: [2, 5] },
        [
          [2, 5],
          [0, 10],
        ],
      ],
      [
        'm',
        { cols: [3, 7] },
        [
          [0, 6],
          [3, 7],
        ],
      ],
      [
        'm',
        {
          slice: [
            [1, 4],
            [6, 10],
          ],
        },
        [
          [1, 4],
          [6, 10],
        ],
      ],
      [
        'm',
        { range: { dim: 1, start: 0, end: 5 } },
        [
          [0, 6],
          [0, 5],
        ],
      ],
      ['m', { range: { dim: null, start: 0, end: 6 } }, full('m')],
      [
        'cube',
        {
          slice: [
            [1, 3],
            [2, 4],
            [1, 6],
          ],
        },
        [
          [1, 3],
          [2, 4],
          [1, 6],
        ],
      ],
      [
        'cube',
        { slice: [null, [1, 4]] },
        [
          [0, 3],
          [1, 4],
          [0, 7],
        ],
      ],
      [
        'cube',
        { cols: [6, 7] },
        [
          [0, 3],
          [0, 5],
          [6, 7],
        ],
      ],
      [
        'cube',
        { rows: [2, 3] },
        [
          [2, 3],
          [0, 5],
          [0, 7],
        ],
      ],
      [
        'h',
        { cols: [4, 9] },
        [
          [0, 4],
          [4, 9],
        ],
      ],
      [
        'b',
        {
          slice: [
            [4, 5],
            [0, 3],
          ],
        },
        [
          [4, 5],
          [0, 3],
        ],
      ],
      [
        'm',
        { rows: [3, 3] },
        [
          [3, 3],
          [0, 10],
        ],
      ],
    ];
    for (const [name, opts, ranges] of cases) {
      const t = await file.readTensor(name, opts);
      expect(t.shape, JSON.stringify(opts)).toEqual(ranges.map(([s, e]) => e - s));
      expect([...t.data], `${name} ${JSON.stringify(opts)}`).toEqual(expected(name, ranges));
    }
  });

  it('reads only the requested bytes', async () => {
    const before = { ...file.stats };
    await file.readF32('m', { cols: [3, 7] });
    expect(file.stats.bytesRead - before.bytesRead).toBe(6 * 4 * 4);
    expect(file.stats.reads - before.reads).toBe(6);
    const mid = { ...file.stats };
    await file.readF32('cube', { slice: [[1, 3]] });
    expect(file.stats.bytesRead - mid.bytesRead).toBe(2 * 35 * 4);
    expect(file.stats.reads - mid.reads).toBe(1);
  });

  it('merges nearby reads when maxGapBytes allows, with the same values', async () => {
    const merged = await openSafetensors(file.path, { maxGapBytes: 64 });
    const before = { ...merged.stats };
    expect([...(await merged.readF32('m', { cols: [3, 7] }))]).toEqual(
      expected('m', [
        [0, 6],
        [3, 7],
      ]),
    );
    expect(merged.stats.reads - before.reads).toBe(1);
    expect(merged.stats.bytesRead - before.bytesRead).toBe((5 * 10 + 4) * 4);
    await merged.close();
  });

  it('gives clear errors for bad slices, unknown tensors and integer reads as f32', async () => {
    const bad: Array<[string, Parameters<SafetensorsFile['readF32']>[1], RegExp]> = [
      ['m', { rows: [4, 7] }, /slice \[4, 7\) of dimension 0 is outside \[0, 6\]/],
      ['m', { cols: [-1, 2] }, /outside/],
      ['m', { rows: [3, 2] }, /outside/],
      ['m', { rows: [0.5, 2] }, /outside/],
      ['m', { slice: [null, null, [0, 1]] }, /3 ranges for a rank-2 tensor/],
      ['m', { range: { dim: 2, start: 0, end: 1 } }, /range.dim 2 is not a dimension/],
      ['m', { rows: [0, 1], cols: [0, 1] }, /at most one of/],
      ['s', { cols: [0, 1] }, /cols given for a scalar/],
      ['nope', {}, /no such tensor/],
      ['i', {}, /I32 is not a float dtype/],
    ];
    for (const [name, opts, pattern] of bad) {
      const err = await file.readF32(name, opts).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `${name} ${JSON.stringify(opts)}`).toBeInstanceOf(SafetensorsError);
      expect((err as SafetensorsError).message).toMatch(pattern);
      expect((err as SafetensorsError).tensor).toBe(name);
    }
  });

  it('reports a file that shrank after opening, naming the tensor', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeSafetensors(path, { a: { dtype: 'F32', shape: [64], data: new Float32Array(64) } });
    const f = await openSafetensors(path);
    await writeFile(path, new Uint8Array(40));
    const err = await f.readF32('a').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).message).toMatch(/truncated/);
    expect((err as SafetensorsError).tensor).toBe('a');
    await f.close();
    await expect(f.readF32('a')).rejects.toThrow(/closed/);
  });

  it('names a missing file', async () => {
    await expect(openSafetensors(join(dir, 'absent.safetensors'))).rejects.toThrow(
      /absent.safetensors: cannot open/,
    );
  });
});
