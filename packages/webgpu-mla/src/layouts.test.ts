/**
 * The whole conformance suite under the other storage layouts: f16 outputs forced to packed u32
 * (the default on this adapter is native `array<f16>` where it has `shader-f16`, covered by
 * `conformance.test.ts`), and every tensor over 3 KiB split into buffers of at most 3 KiB: the
 * suite's caches then span 2–6 buffers (decode, prefill with context, its context gather), so
 * every op that takes a cache picks the buffer per block; small inputs such as decode queries
 * stay in one buffer.
 */
import { conformanceCases } from '@dcp/backend/testing';
import { createLocalCommunicators } from '@dcp/parallel-state';
import { afterAll, describe, it } from 'vitest';
import { wrapHostCommunicator } from './comm.js';
import { platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

const communicators = (size: number) => createLocalCommunicators(size).map(wrapHostCommunicator);
const layouts = [
  { name: 'f16 packed in u32', options: { f16Storage: 'packed' } },
  { name: 'buffers of at most 3 KiB', options: { maxSegmentBytes: 3072 } },
] as const;

for (const layout of layouts) {
  const descriptor = platformDescriptor({ allowSoftware: true, ...layout.options });
  const adapter = await adapterOrSkip(descriptor);
  describe.skipIf(!adapter)(`webgpu-mla conformance, ${layout.name}`, () => {
    afterAll(() => descriptor.close());
    for (const c of conformanceCases({ descriptor, communicators, dcpSizes: [1, 2] })) {
      if (c.skip !== undefined) it.skip(`${c.name} (${c.skip})`, c.run);
      else it(c.name, c.run, 120_000);
    }
  });
}
