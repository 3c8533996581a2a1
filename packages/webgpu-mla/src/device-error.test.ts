/**
 * A device error is never swallowed: the first validation error (here a buffer destroyed behind
 * the backend's back and then used by a kernel, so the whole submit is dropped) makes the next
 * read reject with Dawn's message instead of returning stale numbers, every later read rejects
 * too, and a collective through the wrapped host communicator rejects rather than sending them.
 */
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, describe, expect, it } from 'vitest';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const descriptor = platformDescriptor({ allowSoftware: true });
const adapter = await adapterOrSkip(descriptor);

describe.skipIf(!adapter)('device errors', () => {
  afterAll(() => descriptor.close());

  it('the first one fails every later read and collective, with its message', async () => {
    const b = await descriptor.create();
    const x = b.upload(new Float32Array([1, 2, 3, 4]), [4], 'f32');
    const y = b.upload(new Float32Array([10, 20, 30, 40]), [4], 'f32');
    // Sanity: the device is healthy and computes before the fault.
    b.add(x, y, y);
    expect(Array.from((await b.download(y)) as Float32Array)).toEqual([11, 22, 33, 44]);

    const victim = b.upload(new Float32Array([5, 6, 7, 8]), [4], 'f32');
    for (const buf of victim.storage.buffers) buf.destroy();
    b.add(victim, y, y);
    await expect(b.download(y)).rejects.toThrow(/WebGPU error:.*destroyed/is);

    // Sticky: a tensor the fault never touched cannot be read either.
    const fresh = b.upload(new Float32Array([1, 1]), [2], 'f32');
    await expect(b.download(fresh)).rejects.toThrow(/WebGPU error:.*destroyed/is);
    await expect(b.download(x)).rejects.toThrow(/destroyed/i);

    const [host] = createLocalCommunicators(1);
    const comm = b.wrapCommunicator(host!);
    await expect(comm.allReduce(fresh)).rejects.toThrow(/WebGPU error:.*destroyed/is);
  });
});
