import { describe, expect, it } from 'vitest';
import * as main from './index.js';
import * as node from './node.js';

describe('shared-memory communicators on the main entry', () => {
  it('are the same functions the node entry exports, and work without worker_threads', async () => {
    expect(main.ThreadCommunicator).toBe(node.ThreadCommunicator);
    expect(main.createThreadCommState).toBe(node.createThreadCommState);
    expect(main.threadGroupsFor).toBe(node.threadGroupsFor);
    expect(main.reportRankExit).toBe(node.reportRankExit);
    // Two members on this thread (as two Web Workers would be): an all-gather through shared memory.
    const state = main.createThreadCommState(main.makeTopology({ tp: 2 }), { timeoutMs: 5_000 });
    const [a, b] = [0, 1].map((r) => main.threadGroupsFor(state, r).world);
    const out = await Promise.all([
      a!.allGather(Float32Array.of(1, 2), [2], 0),
      b!.allGather(Float32Array.of(3, 4), [2], 0),
    ]);
    expect(out.map((o) => [...o])).toEqual([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
    main.reportRankExit(state, 1, 7);
    expect(main.rankExitCode(state, 1)).toBe(7);
    await expect(a!.allGather(Float32Array.of(1, 2), [2], 0)).rejects.toThrow(/rank 1|member/);
  });
});
