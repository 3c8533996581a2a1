/**
 * cpu-mla under real `ThreadCommunicator`s: two worker threads (tp 2, dcp 2) each write their own
 * tokens (parallel-state's `slotMapping`), all-gather queries, decode locally and merge with
 * `lseCombine` in both modes. The merged heads must equal dense attention over the whole
 * sequence. Workers load the built packages (dist/), as the engine's workers do.
 */
import { Worker } from 'node:worker_threads';
import { refAttend } from '@dcp/backend/testing';
import { makeTopology } from '@dcp/parallel-state';
import { createThreadCommState, watchWorkers } from '@dcp/parallel-state/node';
import { describe, expect, it } from 'vitest';

const dist = (pkg: string, file: string) =>
  new URL(`../node_modules/${pkg}/dist/${file}`, import.meta.url).href;

// The worker body (plain JavaScript: workers run built code). One rank of the DCP group.
const WORKER = `
const { workerData: d, parentPort } = require('node:worker_threads');
(async () => {
  const { createCpuMlaBackend } = await import(d.urls.cpu);
  const { lseCombine } = await import(d.urls.backend);
  const { slotMapping, localSeqLens } = await import(d.urls.ps);
  const { threadGroupsFor } = await import(d.urls.psNode);
  const comm = threadGroupsFor(d.state, d.rank).dcp;
  const b = createCpuMlaBackend();
  const { L, R, B, Hl, lens, maxBlocks, numBlocks, tables, scale } = d;
  const W = L + R;
  const cache = b.alloc([numBlocks, B, W], 'f32');
  lens.forEach((len, q) => {
    if (len === 0) return;
    const pos = Array.from({ length: len }, (_, p) => p);
    const slots = slotMapping(pos, tables[q], { dcp: comm.size, dcpRank: comm.rank, interleave: d.interleave, blockSize: B });
    const rows = d.rows[q];
    const kvC = new Float32Array(len * L), kPe = new Float32Array(len * R);
    for (let t = 0; t < len; t++) {
      kvC.set(rows.subarray(t * W, t * W + L), t * L);
      kPe.set(rows.subarray(t * W + L, (t + 1) * W), t * R);
    }
    b.writeKv(b.upload(kvC, [len, L], 'f32'), b.upload(kPe, [len, R], 'f32'), b.upload(slots, [len], 'i32'), cache);
  });
  const reqs = lens.length;
  const qLocal = b.upload(d.q, [reqs, Hl, W], 'f32');
  const gathered = await comm.allGather(b.commBuffer(qLocal), [reqs, Hl, W], 1);
  const q = b.fromCommBuffer(gathered, [reqs, comm.size * Hl, W], 'f32');
  const bt = b.upload(Int32Array.from(tables.flat()), [reqs, maxBlocks], 'i32');
  const local = localSeqLens(lens, { dcp: comm.size, dcpRank: comm.rank, interleave: d.interleave });
  const results = {};
  for (const mode of ['ag_rs', 'a2a']) {
    const out = b.alloc([reqs, comm.size * Hl, L], 'f32');
    const lse = b.alloc([reqs, comm.size * Hl], 'f32');
    b.mlaDecode(q, cache, { blockTable: bt, seqLens: b.upload(Int32Array.from(local), [reqs], 'i32') }, scale, out, lse);
    const merged = await lseCombine(b, comm, out, lse, { mode, returnLse: true });
    results[mode] = { out: await b.download(merged.out), lse: await b.download(merged.lse) };
  }
  parentPort.postMessage({ ok: true, results });
})().catch((e) => parentPort.postMessage({ ok: false, error: String((e && e.stack) || e) }));
`;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

describe('cpu-mla with ThreadCommunicator workers', () => {
  it.each([1, 4])(
    '2 ranks, interleave %i: merged decode equals dense attention (ag_rs and a2a)',
    async (interleave) => {
      const [L, R, B, Hl, dcp] = [16, 8, 4, 2, 2];
      const W = L + R;
      const lens = [0, 1, 9, 30];
      const maxBlocks = Math.max(...lens.map((l) => Math.ceil(l / (B * dcp))));
      const numBlocks = lens.length * maxBlocks + 1;
      let next = 1;
      const tables = lens.map(() => Array.from({ length: maxBlocks }, () => next++));
      const rand = rng(99 + interleave);
      const rows = lens.map((l) => Float32Array.from({ length: l * W }, rand));
      const qAll = Float32Array.from({ length: lens.length * dcp * Hl * W }, rand);
      const scale = 1 / Math.sqrt(W);
      const topology = makeTopology({ tp: 2, dcp });
      const state = createThreadCommState(topology, { timeoutMs: 30_000 });
      const urls = {
        cpu: new URL('../dist/index.js', import.meta.url).href,
        backend: dist('@dcp/backend', 'index.js'),
        ps: dist('@dcp/parallel-state', 'index.js'),
        psNode: dist('@dcp/parallel-state', 'node.js'),
      };
      const workers = [0, 1].map((rank) => {
        const q = new Float32Array(lens.length * Hl * W);
        for (let r = 0; r < lens.length; r++) {
          q.set(
            qAll.subarray((r * dcp * Hl + rank * Hl) * W, (r * dcp * Hl + (rank + 1) * Hl) * W),
            r * Hl * W,
          );
        }
        return new Worker(WORKER, {
          eval: true,
          workerData: {
            state,
            rank,
            urls,
            L,
            R,
            B,
            Hl,
            lens,
            maxBlocks,
            numBlocks,
            tables,
            scale,
            rows,
            q,
            interleave,
          },
        });
      });
      watchWorkers(state, workers);
      type Msg = {
        ok: boolean;
        error?: string;
        results: Record<string, { out: Float32Array; lse: Float32Array }>;
      };
      const msgs = await Promise.all(
        workers.map(
          (w) =>
            new Promise<Msg>((resolve, reject) => {
              w.once('message', resolve);
              w.once('error', reject);
            }),
        ),
      );
      await Promise.all(workers.map((w) => w.terminate()));
      for (const [rank, m] of msgs.entries()) {
        expect(m.error).toBeUndefined();
        for (const mode of ['ag_rs', 'a2a']) {
          const got = m.results[mode]!;
          for (let r = 0; r < lens.length; r++) {
            const keys = Array.from({ length: lens[r]! }, (_, p) => (k: number) => rows[r]![p * W + k]!);
            for (let h = 0; h < Hl; h++) {
              const qo = (r * dcp * Hl + rank * Hl + h) * W;
              const want = refAttend((k) => qAll[qo + k]!, W, keys, keys, L, scale);
              for (let k = 0; k < L; k++) {
                expect(Math.abs(got.out[(r * Hl + h) * L + k]! - want.out[k]!)).toBeLessThan(1e-5);
              }
              const lse = got.lse[r * Hl + h]!;
              if (want.lse === Number.NEGATIVE_INFINITY) expect(lse).toBe(want.lse);
              else expect(Math.abs(lse - want.lse)).toBeLessThan(1e-5);
            }
          }
        }
      }
    },
  );
});
