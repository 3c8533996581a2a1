// The browser test's workload, run unchanged in Node and in the page: a conformance subset and
// one seeded decode whose raw outputs the two runs compare. `m` holds the modules (each side
// imports its own entry of @dcp/webgpu-mla).
export const SUBSET =
  /^(memory\/|data\/|dense\/(rmsNorm|rope|linear x=f32)|attention\/mlaDecode|merge\/|dcp\/decode W=2 I=1 )/;

/**
 * Greedy generation with the `tiny` preset (dummy weights) on WebGPU: a 12-token prompt in two
 * chunks, then 6 decode steps, at tp1/dcp1 and tp2/dcp2 (two ranks on one adapter). Returns the
 * generated tokens and every step's logits per layout.
 */
export async function generate(m, descriptor, configJson) {
  const config = m.parseHfModelConfig(configJson);
  const prompt = [5, 99, 1500, 7, 42, 300, 8, 1999, 64, 3, 77, 1024];
  const steps = [5, 7, 1, 1, 1, 1, 1, 1];
  const result = {};
  for (const tp of [1, 2]) {
    const topology = m.makeTopology({ tp, pp: 1, dcp: tp });
    const groups = m.createLocalGroups(topology);
    const ranks = await Promise.all(
      topology.ranks.map(async (info) => {
        const { shard, dcp } = m.rankLayout(topology, info.rank, config, 1);
        const g = groups[info.rank];
        const backend = await descriptor.create({ config: {} });
        const model = await m.DeepseekV2Model.load({
          config,
          backend,
          shard,
          dcp,
          source: m.dummyWeightSource(11),
          dtype: 'f32',
          comms: { tp: backend.wrapCommunicator(g.tp), dcp: backend.wrapCommunicator(g.dcp) },
        });
        model.allocateKvCache(32, 4);
        return { model, backend, dcpRank: info.dcpRank };
      }),
    );
    const table = Array.from({ length: 8 }, (_, i) => (i * 5 + 3) % 32);
    const tokens = [...prompt];
    const logits = [];
    let done = 0;
    for (const q of steps) {
      const positions = Array.from({ length: q }, (_, i) => done + i);
      const outs = await Promise.all(
        ranks.map(async (r) => {
          const slotMapping = m.slotMapping(positions, table, {
            dcp: tp,
            dcpRank: r.dcpRank,
            interleave: 1,
            blockSize: 4,
          });
          const batch = {
            tokenIds: tokens.slice(done, done + q),
            positions,
            queryLens: [q],
            computedLens: [done],
            blockTables: [table],
            slotMapping,
          };
          const res = await r.model.forward(batch);
          const l = await r.backend.download(res.logits);
          r.backend.dispose(res.logits);
          return l;
        }),
      );
      const l = outs[0];
      logits.push(Array.from(l));
      done += q;
      if (done >= tokens.length) {
        let best = 0;
        for (let j = 1; j < l.length; j++) if (l[j] > l[best]) best = j;
        tokens.push(best);
      }
    }
    for (const r of ranks) {
      r.model.dispose();
      r.backend.destroy();
    }
    result[`tp${tp}`] = { tokens: tokens.slice(prompt.length), logits };
  }
  return result;
}

export async function probe(m) {
  const descriptor = m.platformDescriptor({ allowSoftware: true });
  const adapter = await descriptor.probe();
  const communicators = (n) => m.createLocalCommunicators(n).map(m.wrapHostCommunicator);
  const report = await m.runConformance({
    descriptor,
    communicators,
    dcpSizes: [2],
    filters: [{ match: new RegExp(`^(?!${SUBSET.source.slice(1)})`), reason: 'not in the browser subset' }],
  });
  // One decode over a bf16 cache: block table, 3 tokens, 4 heads, latent 40 + 8.
  const b = await descriptor.create({ config: {} });
  const rng = m.createRng(77);
  const [nb, B, L, R, H, n] = [6, 4, 40, 8, 4, 3];
  const W = L + R;
  const bits = (x) => {
    const f = new Float32Array([x]);
    return new Uint32Array(f.buffer)[0] >>> 16;
  };
  const cache = b.upload(Uint16Array.from(rng.normals(nb * B * W), bits), [nb, B, W], 'bf16');
  const q = b.upload(Float32Array.from(rng.normals(n * H * W)), [n, H, W], 'f32');
  const bt = b.upload(Int32Array.from([5, 1, 3, 0, 2, 4]), [3, 2], 'i32');
  const lens = b.upload(Int32Array.from([7, 0, 8]), [n], 'i32');
  const out = b.alloc([n, H, L], 'f32');
  const lse = b.alloc([n, H], 'f32');
  b.mlaDecode(q, cache, { blockTable: bt, seqLens: lens }, 1 / Math.sqrt(W), out, lse);
  const decode = { out: Array.from(await b.download(out)), lse: Array.from(await b.download(lse)) };
  b.destroy();
  const generation = await generate(m, descriptor, m.tinyConfig);
  await descriptor.close();
  return {
    adapter,
    generation,
    cases: report.results.map((r) => ({ name: r.name, status: r.status, detail: r.detail ?? '' })),
    decode,
  };
}
