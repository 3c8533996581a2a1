/**
 * @dcp/webgpu-mla host cost per op: how many small ops the host can encode per second.
 *
 * Each case runs a loop of `OPS` tiny ops (so the GPU work is negligible and the host cost shows),
 * then one 4-byte download; it reports µs per op for encoding alone and until the download returns.
 * Two devices in the same run: the default launch path (pipelines by structural key, several
 * dispatches per compute pass, cached bind groups over a dynamic parameter offset) against the
 * per-op path kept as the baseline (`hostCache: false`: WGSL text built and hashed per op, one
 * pass and one bind group per dispatch). Both paths' results are checked equal first.
 *
 * Run: pnpm --filter @dcp/webgpu-mla run build &&
 *   pnpm --filter @dcp/bench exec tsx src/webgpu-host.bench.ts [--ops N] [--rounds R]
 * Without a GPU: VK_ICD_FILENAMES=/opt/lvp25/lvp_icd.json (lavapipe), XDG_RUNTIME_DIR=/tmp.
 */
import { createRng } from '@dcp/backend/testing';
import { platformDescriptor, type WebgpuMlaBackend } from '@dcp/webgpu-mla';

const argv = process.argv.slice(2);
const flag = (f: string, d: number) => (argv.includes(f) ? Number(argv[argv.indexOf(f) + 1]) : d);
const OPS = flag('--ops', 400);
const ROUNDS = flag('--rounds', 5);

const fast = platformDescriptor({ allowSoftware: true });
const base = platformDescriptor({ allowSoftware: true, hostCache: false });
const adapter = await fast.probe();
const bFast = await fast.create();
const bBase = await base.create();

const rng = createRng(11);
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
const D = 256;
const hx = rand(D);
const hw = rand(D * D);
const hn = rand(D);

/** One case: builds its tensors on `b` and returns the op loop body plus the tensor it writes. */
type Case = (b: WebgpuMlaBackend) => { step: () => void; out: ReturnType<WebgpuMlaBackend['alloc']> };
const cases: [string, Case][] = [
  [
    'add [256] f32',
    (b) => {
      const x = b.upload(hx, [1, D], 'f32');
      const y = b.upload(hn, [1, D], 'f32');
      const out = b.alloc([1, D], 'f32');
      return { step: () => b.add(x, y, out), out };
    },
  ],
  [
    'linear [1×256]·[256×256] f32',
    (b) => {
      const x = b.upload(hx, [1, D], 'f32');
      const w = b.upload(hw, [D, D], 'f32');
      const out = b.alloc([1, D], 'f32');
      return { step: () => b.linear(x, w, out), out };
    },
  ],
  [
    'rmsNorm [1×256] f32',
    (b) => {
      const x = b.upload(hx, [1, D], 'f32');
      const w = b.upload(hn, [D], 'f32');
      const out = b.alloc([1, D], 'f32');
      return { step: () => b.rmsNorm(x, w, 1e-6, out), out };
    },
  ],
  [
    'add [256] bf16 (packed output)',
    (b) => {
      const bf = (a: Float32Array) => new Uint16Array(new Uint32Array(a.buffer).map((u) => u >>> 16));
      const x = b.upload(bf(hx), [1, D], 'bf16');
      const y = b.upload(bf(hn), [1, D], 'bf16');
      const out = b.alloc([1, D], 'bf16');
      return { step: () => b.add(x, y, out), out };
    },
  ],
];

/** Median over rounds of [encode µs/op, total µs/op]. */
async function time(b: WebgpuMlaBackend, c: Case): Promise<[number, number, Uint8Array]> {
  const { step, out } = c(b);
  const sync = b.alloc([1], 'f32');
  for (let i = 0; i < 20; i++) step();
  await b.download(sync);
  const enc: number[] = [];
  const tot: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < OPS; i++) step();
    const t1 = performance.now();
    await b.download(sync);
    const t2 = performance.now();
    enc.push(((t1 - t0) * 1000) / OPS);
    tot.push(((t2 - t0) * 1000) / OPS);
  }
  const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1]!;
  const bytes = await b.download(out);
  return [med(enc), med(tot), new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)];
}

console.log(`adapter: ${adapter.description || adapter.architecture} (${adapter.vendor})`);
console.log(`${OPS} ops per round, median of ${ROUNDS} rounds; µs per op (host encode / until done)\n`);
console.log('| op | baseline encode | baseline total | cached encode | cached total | speed-up (total) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, c] of cases) {
  const [be, bt, bOut] = await time(bBase, c);
  const [fe, ft, fOut] = await time(bFast, c);
  const same = bOut.length === fOut.length && bOut.every((v, i) => v === fOut[i]);
  if (!same) throw new Error(`${name}: the two launch paths disagree`);
  const f = (x: number) => x.toFixed(1);
  console.log(`| ${name} | ${f(be)} | ${f(bt)} | ${f(fe)} | ${f(ft)} | ${(bt / ft).toFixed(2)}× |`);
}
await fast.close();
await base.close();
