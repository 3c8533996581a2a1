// The README example: a tp8·dcp4 topology, the KV slots each rank writes for a 10-token request,
// and an all-gather across 2 worker threads. Run from a built checkout:
//   node packages/parallel-state/examples/readme.mjs
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { headRange, makeTopology, slotMapping } from '@dcp/parallel-state';
import { createThreadCommState, threadGroupsFor, watchWorkers } from '@dcp/parallel-state/node';

if (isMainThread) {
  // 8 ranks, one TP group, split into two DCP groups of 4 consecutive ranks.
  const topo = makeTopology({ tp: 8, dcp: 4 });
  console.log('DCP groups:', JSON.stringify(topo.dcpGroups));

  // A 10-token request with block size 4: one virtual block (4 × dcp = 16 tokens), block id 7.
  const positions = Array.from({ length: 10 }, (_, p) => p);
  for (const r of topo.ranks) {
    const { start, end } = headRange(topo, r.rank, 16);
    const slots = slotMapping(positions, [7], {
      blockSize: 4,
      dcp: topo.dcp,
      dcpRank: r.dcpRank,
      interleave: 1,
    });
    console.log(`rank ${r.rank} dcpRank ${r.dcpRank} heads [${start},${end}) slots ${[...slots].join(' ')}`);
  }

  // Two ranks as worker threads of this process, sharing memory created here.
  const state = createThreadCommState(makeTopology({ tp: 2 }));
  const workers = [0, 1].map((rank) => new Worker(new URL(import.meta.url), { workerData: { state, rank } }));
  watchWorkers(state, workers); // a worker that dies makes the other one fail fast, not hang
  const gathered = await Promise.all(
    workers.map((w) => new Promise((res, rej) => w.once('message', res).once('error', rej))),
  );
  for (const [rank, values] of gathered.entries())
    console.log(`thread ${rank} all-gather: ${values.join(' ')}`);
} else {
  const { state, rank } = workerData;
  const { world } = threadGroupsFor(state, rank);
  // Each rank holds a [2, 2] tensor; gathering along dim 1 gives [2, 4] (the non-contiguous case).
  const mine = Float32Array.of(rank * 10, rank * 10 + 1, rank * 10 + 2, rank * 10 + 3);
  const out = await world.allGather(mine, [2, 2], 1);
  parentPort.postMessage([...out]);
}
