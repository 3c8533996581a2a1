import { describe, expect, it } from 'vitest';
import { ThreadExecutor } from '../dist/node.js';

/**
 * When a rank fails, the others are asked to shut down rather than being terminated at once:
 * every rank closes its runner (releasing its device) before its thread ends, even one that was
 * still busy in the failed step. (Terminating a thread with Dawn work pending aborts the whole
 * process; this is the executor half of avoiding that.)
 */
describe('a failing rank', () => {
  it('fails the step with its message, and every rank closes its runner before ending', async () => {
    const closed = new SharedArrayBuffer(8);
    const flags = new Int32Array(closed);
    const ex = await ThreadExecutor.start({
      worldSize: 2,
      workerUrl: new URL('./fixtures/failing-rank.mjs', import.meta.url),
      workerData: (rank) => ({ rank, closed }),
    });
    try {
      await expect(ex.execute({ schedule: {}, sampling: {} })).rejects.toThrow(
        /rank 1 failed: device lost on purpose/,
      );
      const deadline = Date.now() + 8_000;
      while (Date.now() < deadline && !(flags[0] === 1 && flags[1] === 1)) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(Array.from(flags)).toEqual([1, 1]);
      await expect(ex.execute({ schedule: {}, sampling: {} })).rejects.toThrow(/rank 1 failed/);
    } finally {
      await ex.shutdown();
    }
  });

  it('a rank whose worker cannot be started fails the startup naming it', async () => {
    // A function cannot be cloned into workerData: the Worker constructor throws.
    await expect(
      ThreadExecutor.start({
        worldSize: 2,
        workerUrl: new URL('./fixtures/failing-rank.mjs', import.meta.url),
        workerData: (rank) => ({ rank, closed: new SharedArrayBuffer(8), bad: () => rank }),
      }),
    ).rejects.toThrow(/rank 0: its worker could not be started: .*could not be cloned/);
  });
});
