/**
 * Dawn's `GPU` object (the npm `webgpu` package's `create()`) owns the native instance: once it is
 * garbage collected the device's event polling touches freed memory and the process dies with
 * signal 11 (seen as the engine's worker crashing on a 200-token prompt, when GC first ran). A
 * backend must keep it reachable by itself: here nothing else references it, GC is forced, and
 * the backend must still compute and read back.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { dawnGpu, platformDescriptor } from './node.js';
import { adapterOrSkip } from './test-adapter.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const adapter = await adapterOrSkip(platformDescriptor({ allowSoftware: true }));

const tick = () => new Promise((r) => setTimeout(r, 20));

describe.skipIf(!adapter)('Dawn instance lifetime', () => {
  it('a backend keeps its GPU object alive after everything else dropped it', async () => {
    let ref: WeakRef<object> | null = null;
    const make = async () => {
      const d = platformDescriptor({
        allowSoftware: true,
        requestGpu: async () => {
          const g = await dawnGpu();
          if (g) ref = new WeakRef(g);
          return g;
        },
      });
      return d.create();
    };
    const backend = await make();
    for (let i = 0; i < 4; i++) {
      gc();
      await tick();
    }
    expect(ref!.deref(), 'the GPU object was collected while its device is in use').toBeDefined();
    const a = new Float32Array(4096).map((_, i) => (i % 97) - 48);
    const t = backend.upload(a, [a.length], 'f32');
    for (let step = 0; step < 8; step++) {
      backend.add(t, t, t);
      gc();
      await tick();
    }
    const got = (await backend.download(t)) as Float32Array;
    expect(Array.from(got)).toEqual(Array.from(a, (v) => v * 256));
    backend.destroy();
  });
});
