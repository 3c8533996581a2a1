// The browser test's workload, run unchanged in Node and in the page: a conformance subset and
// one seeded decode whose raw outputs the two runs compare. `m` holds the modules (each side
// imports its own entry of @dcp/webgpu-mla).
export const SUBSET =
  /^(memory\/|data\/|dense\/(rmsNorm|rope|linear x=f32)|attention\/mlaDecode|merge\/|dcp\/decode W=2 I=1 )/;

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
  await descriptor.close();
  return {
    adapter,
    cases: report.results.map((r) => ({ name: r.name, status: r.status, detail: r.detail ?? '' })),
    decode,
  };
}
