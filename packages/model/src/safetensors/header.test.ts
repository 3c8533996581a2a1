import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from './errors.js';
import { openSafetensors } from './file.js';
import { rawFile, tempDir } from './test-util.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

let n = 0;
async function expectError(bytes: Uint8Array, pattern: RegExp, tensor?: string, maxHeaderBytes?: number) {
  const path = join(dir, `hostile-${n++}.safetensors`);
  await writeFile(path, bytes);
  const err = await openSafetensors(path, maxHeaderBytes ? { maxHeaderBytes } : {}).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.message).toMatch(pattern);
  expect(e.file).toBe(path);
  expect(e.message.startsWith(path)).toBe(true);
  expect(e.tensor).toBe(tensor);
}

const f32 = (shape: number[], begin: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)],
});

describe('hostile safetensors headers', () => {
  it('rejects a file too small for the length prefix', async () => {
    await expectError(new Uint8Array(5), /too small for the 8-byte header length/);
    await expectError(new Uint8Array(0), /too small/);
  });

  it('rejects a header length past the end of the file', async () => {
    await expectError(
      rawFile({}, new Uint8Array(0), 1000n),
      /header length 1000 runs past the end of the file/,
    );
  });

  it('rejects an enormous header length without allocating it', async () => {
    await expectError(rawFile({}, new Uint8Array(0), 2n ** 63n), /over the limit/);
    await expectError(
      rawFile({ a: f32([4], 0) }, new Uint8Array(16)),
      /over the limit of 10 bytes/,
      undefined,
      10,
    );
  });

  it('rejects invalid JSON, non-objects and invalid UTF-8', async () => {
    await expectError(rawFile('{"a": '), /not valid UTF-8 JSON/);
    await expectError(rawFile('[1, 2, 3]'), /not a JSON object/);
    await expectError(rawFile('null'), /not a JSON object/);
    const bad = rawFile('{"\u00e9": 1}');
    bad[10] = 0xff; // break the two-byte sequence
    await expectError(bad, /not valid UTF-8 JSON/);
  });

  it('rejects unknown dtypes', async () => {
    await expectError(
      rawFile({ w: { dtype: 'F12', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /unknown dtype "F12"/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 3, shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /unknown dtype 3/,
      'w',
    );
  });

  it('rejects negative, fractional and non-numeric dims', async () => {
    const data = new Uint8Array(64);
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [-2, 2], data_offsets: [0, 16] } }, data),
      /shape\[0\] must be a non-negative integer, got -2/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [2, 1.5], data_offsets: [0, 12] } }, data),
      /shape\[1\] .* got 1.5/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, data),
      /shape\[0\] .* got "2"/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, data),
      /shape is not an array/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, data),
      /too large/,
      'w',
    );
  });

  it('rejects offsets whose size does not match dtype and shape', async () => {
    const data = new Uint8Array(64);
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 12] } }, data),
      /hold 12 bytes but F32\[2,3\] needs 24/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 16] } }, data),
      /hold 16 bytes but BF16\[4\] needs 8/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, data),
      /end before they begin/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, data),
      /data_offsets must be an array/,
      'w',
    );
    await expectError(
      rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, data),
      /data_offsets\[0\] must be a non-negative integer/,
      'w',
    );
  });

  it('rejects offsets out of range and truncated files', async () => {
    await expectError(
      rawFile({ w: f32([4], 0) }, new Uint8Array(8)),
      /run past the end of the data \(8 bytes\)/,
      'w',
    );
    await expectError(
      rawFile({ a: f32([2], 0), w: f32([2], 8) }, new Uint8Array(12)),
      /truncated or corrupt/,
      'w',
    );
    await expectError(rawFile({ w: f32([1], 2 ** 52) }, new Uint8Array(4)), /run past the end/, 'w');
  });

  it('rejects overlapping tensors', async () => {
    const data = new Uint8Array(64);
    await expectError(rawFile({ a: f32([4], 0), b: f32([4], 8) }, data), /overlaps a/, 'b');
    await expectError(rawFile({ b: f32([4], 8), a: f32([8], 0) }, data), /overlaps a/, 'b');
    await expectError(rawFile({ a: f32([4], 0), b: f32([4], 0) }, data), /overlaps a/, 'b');
  });

  it('rejects a malformed __metadata__', async () => {
    await expectError(rawFile({ __metadata__: { format: 1 } }), /__metadata__.format is not a string/);
    await expectError(rawFile({ __metadata__: [] }), /__metadata__ is not an object/);
  });

  it('accepts an empty file header, zero-size tensors and trailing header spaces', async () => {
    const path = join(dir, 'ok.safetensors');
    const header = JSON.stringify({
      __metadata__: { format: 'pt' },
      e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] },
      w: f32([1], 0),
    });
    await writeFile(path, rawFile(`${header}    `, new Uint8Array(4)));
    const f = await openSafetensors(path);
    expect(f.names).toEqual(['e', 'w']);
    expect(f.header.metadata).toEqual({ format: 'pt' });
    expect((await f.readF32('e')).length).toBe(0);
    await f.close();
  });
});
