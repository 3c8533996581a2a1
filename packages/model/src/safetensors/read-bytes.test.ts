import { describe, expect, it } from 'vitest';
import { SafetensorsError } from './errors.js';
import type { TensorInfo } from './header.js';
import { groupRuns, type ReadAt, type ReadPlan, readTensorBytes } from './read-bytes.js';
import { indices, rng } from './test-util.js';

const FILE = 'mem.safetensors';
const BASE = 100; // file offset of the tensor's first byte
const SHAPE = [6, 10];
const ELEM = 4; // F32
const info: TensorInfo = {
  name: 'w',
  dtype: 'F32',
  shape: SHAPE,
  dataOffsets: [0, 6 * 10 * ELEM],
  fileOffset: BASE,
  numel: 60,
};

const rand = rng(11);
const data = Uint8Array.from({ length: BASE + 240 + 64 }, () => Math.floor(rand() * 256));

/** A reader over `data` that logs each call, whether it got `into`, and the most calls in flight. */
function memReader(useInto: boolean) {
  const calls: Array<{ offset: number; length: number; into: boolean }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const readAt: ReadAt = async (offset, length, into) => {
    calls.push({ offset, length, into: into !== undefined });
    if (into) expect(into.length).toBe(length);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 1));
    inFlight--;
    const bytes = data.slice(offset, offset + length);
    if (useInto && into) {
      into.set(bytes);
      return into;
    }
    return bytes;
  };
  return { readAt, calls, maxInFlight: () => maxInFlight };
}

/** Expected bytes of a slice, element by element from the row-major layout. */
function expected(ranges: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (const [r, c] of indices(ranges)) {
    const at = BASE + (r! * SHAPE[1]! + c!) * ELEM;
    out.push(...data.subarray(at, at + ELEM));
  }
  return out;
}

const plan = (p: Partial<ReadPlan> = {}): ReadPlan => ({
  maxGapBytes: 0,
  maxSpanBytes: 1 << 20,
  concurrency: 4,
  ...p,
});

describe('readTensorBytes', () => {
  it('returns the bytes of random slices for every plan and either kind of reader', async () => {
    for (let trial = 0; trial < 30; trial++) {
      const r0 = Math.floor(rand() * 6);
      const r1 = r0 + Math.floor(rand() * (6 - r0 + 1));
      const c0 = Math.floor(rand() * 10);
      const c1 = c0 + Math.floor(rand() * (10 - c0 + 1));
      const want = expected([
        [r0, r1],
        [c0, c1],
      ]);
      for (const p of [plan(), plan({ maxGapBytes: 1e9 }), plan({ maxGapBytes: 1e9, maxSpanBytes: 64 })]) {
        for (const useInto of [true, false]) {
          const got = await readTensorBytes(
            FILE,
            info,
            {
              slice: [
                [r0, r1],
                [c0, c1],
              ],
            },
            memReader(useInto).readAt,
            p,
          );
          expect(got.name).toBe('w');
          expect(got.dtype).toBe('F32');
          expect(got.shape).toEqual([r1 - r0, c1 - c0]);
          expect([...got.bytes]).toEqual(want);
        }
      }
    }
  });

  it('reads each run alone, merges runs within maxGapBytes, and caps a merge at maxSpanBytes', async () => {
    // cols [2, 5): 6 runs of 12 bytes, 28 unrequested bytes between neighbours.
    const runsAt = [0, 1, 2, 3, 4, 5].map((r) => ({ offset: BASE + r * 40 + 8, length: 12, into: true }));
    const alone = memReader(true);
    await readTensorBytes(FILE, info, { cols: [2, 5] }, alone.readAt, plan({ maxGapBytes: 27 }));
    expect(alone.calls.sort((a, b) => a.offset - b.offset)).toEqual(runsAt);

    const merged = memReader(true);
    await readTensorBytes(FILE, info, { cols: [2, 5] }, merged.readAt, plan({ maxGapBytes: 28 }));
    expect(merged.calls).toEqual([{ offset: BASE + 8, length: 5 * 40 + 12, into: false }]);

    const capped = memReader(true);
    const p = plan({ maxGapBytes: 28, maxSpanBytes: 100 });
    await readTensorBytes(FILE, info, { cols: [2, 5] }, capped.readAt, p);
    expect(capped.calls.sort((a, b) => a.offset - b.offset)).toEqual([
      { offset: BASE + 8, length: 92, into: false },
      { offset: BASE + 128, length: 92, into: false },
    ]);
  });

  it('keeps at most `concurrency` reads in flight', async () => {
    for (const [concurrency, want] of [
      [1, 1],
      [2, 2],
      [16, 6],
    ] as const) {
      const r = memReader(true);
      await readTensorBytes(FILE, info, { cols: [2, 5] }, r.readAt, plan({ concurrency }));
      expect(r.calls.length).toBe(6);
      expect(r.maxInFlight()).toBe(want);
    }
  });

  it('reads a whole tensor in one call into the output, and an empty slice with none', async () => {
    const whole = memReader(true);
    const got = await readTensorBytes(FILE, info, {}, whole.readAt, plan());
    expect(whole.calls).toEqual([{ offset: BASE, length: 240, into: true }]);
    expect([...got.bytes]).toEqual([...data.subarray(BASE, BASE + 240)]);

    const empty = memReader(true);
    const none = await readTensorBytes(FILE, info, { rows: [3, 3] }, empty.readAt, plan());
    expect(empty.calls).toEqual([]);
    expect(none.shape).toEqual([0, 10]);
    expect(none.bytes.length).toBe(0);
  });

  it('names the file and tensor for a bad slice and passes reader errors through', async () => {
    const r = memReader(true);
    await expect(readTensorBytes(FILE, info, { rows: [0, 7] }, r.readAt, plan())).rejects.toThrow(
      'mem.safetensors [w]: slice [0, 7) of dimension 0 is outside [0, 6]',
    );
    expect(r.calls).toEqual([]);
    const boom = new SafetensorsError(FILE, 'short read');
    await expect(readTensorBytes(FILE, info, {}, () => Promise.reject(boom), plan())).rejects.toBe(boom);
  });
});

describe('groupRuns', () => {
  it('groups by gap and span, in order', () => {
    const runs = [
      { fileOffset: 0, length: 4, outOffset: 0 },
      { fileOffset: 4, length: 4, outOffset: 4 }, // adjacent
      { fileOffset: 10, length: 4, outOffset: 8 }, // gap 2
      { fileOffset: 30, length: 4, outOffset: 12 }, // gap 16
    ];
    expect(groupRuns(runs, 0, 1000).map((g) => g.length)).toEqual([2, 1, 1]);
    expect(groupRuns(runs, 2, 1000).map((g) => g.length)).toEqual([3, 1]);
    expect(groupRuns(runs, 16, 1000).map((g) => g.length)).toEqual([4]);
    expect(groupRuns(runs, 16, 33).map((g) => g.length)).toEqual([3, 1]);
    expect(groupRuns(runs, 16, 34).map((g) => g.length)).toEqual([4]);
    expect(groupRuns([], 16, 34)).toEqual([]);
  });
});
