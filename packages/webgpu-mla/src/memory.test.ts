/** Backend-specific memory paths the suite does not reach: the vec4 stream copy, unaligned 16-bit writes, splits and refusals. */
import { afterAll, describe, expect, it } from 'vitest';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const descriptor = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(descriptor);

describe.skipIf(!adapter)('webgpu-mla memory', () => {
  afterAll(() => descriptor.close());

  it('streamCopy copies a whole buffer bit for bit', async () => {
    const b = await descriptor.create({ config: undefined as never });
    const n = 1000;
    const data = Int32Array.from({ length: n }, (_, i) => (i * 2654435761) | 0);
    const src = b.upload(data, [n], 'i32');
    const dst = b.alloc([n], 'i32');
    b.streamCopy(src, dst);
    expect(Array.from((await b.download(dst)) as Int32Array)).toEqual(Array.from(data));
    expect(() => b.streamCopy(src, b.sliceRows(dst, 0, 10))).toThrow(/same allocation size/);
    b.destroy();
  });

  it('writes 16-bit data at odd offsets and lengths without touching neighbours', async () => {
    const b = await descriptor.create({ config: undefined as never });
    const base = Uint16Array.from({ length: 11 }, (_, i) => 0x3c00 + i);
    const t = b.upload(base, [11], 'f16');
    b.write(t, Uint16Array.from([0x4000, 0x4200, 0x4400]), 3);
    const want = Array.from(base);
    want.splice(3, 3, 0x4000, 0x4200, 0x4400);
    expect(Array.from((await b.download(t)) as Uint16Array)).toEqual(want);
    const view = b.sliceRows(b.reshape(t, [11, 1]), 5, 3);
    expect(Array.from((await b.download(view)) as Uint16Array)).toEqual(want.slice(5, 8));
    b.destroy();
  });

  it('splits a tensor above the storage binding limit; refuses one a kernel could not bind, naming the limit', async () => {
    const b = await descriptor.create({ config: undefined as never });
    const limit = adapter!.limits.maxStorageBufferBindingSize;
    const split = b.alloc([Math.ceil(limit / 4) + 1], 'f32');
    expect(split.storage.buffers.length).toBe(2);
    b.dispose(split);
    // Refused before any buffer is created.
    const buffers = b.layout.maxBindings - 5;
    expect(() => b.alloc([(limit / 4) * buffers], 'f32')).toThrow(
      /needs .* MiB: \d+ buffers .*maxStorageBuffersPerShaderStage/,
    );
    expect(() => b.upload(new Float32Array(3), [4], 'f32')).toThrow(/needs 4 elements, got 3/);
    expect(() => b.upload(new Float32Array(4), [4], 'bf16')).toThrow(/takes a Uint16Array/);
    b.destroy();
  });
});
