/**
 * @dcp/cpu-mla: causal prefill attention (one request of N tokens, 8 heads, MLA shapes: q/k head
 * width 192 = 128 own + 64 shared `k_pe`, values 128) through the backend's `attention` op, against
 * a straightforward implementation of the same op kept here as the baseline (per query and head:
 * one score per key by a four-sum dot product, softmax, then a weighted sum of value rows; the
 * form and inner loops cpu-mla had before its tiled kernel). Both run in the same process on the
 * same inputs; the outputs must agree to 1e-4 relative and the LSEs to 1e-4 absolute, then the
 * CPU-time ratio baseline / backend is printed.
 *
 * Run: pnpm turbo run build --filter=@dcp/cpu-mla... && pnpm --filter @dcp/bench exec tsx src/cpu-mla-prefill.bench.ts
 * Options: --tokens 1024,2048,4096 (comma list), --rounds N (default 2: best of N per size;
 * the 4096 baseline alone takes over a minute of CPU on a shared 2-core host), --heads N
 * (default 8), --shape v2|tiny (head widths: v2 128 + 64 and v 128, the default; tiny 32 + 64
 * and v 32).
 */
import { createCpuMlaBackend } from '@dcp/cpu-mla';

const opt = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = opt('tokens', '1024,2048,4096').split(',').map(Number);
const ROUNDS = Number(opt('rounds', '2'));
const H = Number(opt('heads', '8'));
// DeepSeek-V2 head widths by default; `--shape tiny` takes the `tiny` preset's (32 + 64, v 32).
const [DK, DR, DV] = opt('shape', 'v2') === 'tiny' ? [32, 64, 32] : [128, 64, 128];
const DQ = DK + DR;

/** CPU milliseconds of this process (steadier than wall time on a busy shared machine). */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Seeded uniform values in [-1, 1). */
function randoms(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = (x >>> 0) / 2147483648 - 1;
  }
  return a;
}

/** Dot product with four running sums (the baseline's inner loop). */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let p = 0;
  for (; p + 3 < n; p += 4) {
    s0 += a[ao + p]! * b[bo + p]!;
    s1 += a[ao + p + 1]! * b[bo + p + 1]!;
    s2 += a[ao + p + 2]! * b[bo + p + 2]!;
    s3 += a[ao + p + 3]! * b[bo + p + 3]!;
  }
  for (; p < n; p++) s0 += a[ao + p]! * b[bo + p]!;
  return s0 + s1 + s2 + s3;
}

/**
 * The baseline: causal attention of one request the plain way, as cpu-mla computed it before its
 * tiled kernel (per query and head: scores by dot products, softmax, value rows added in).
 */
function baseline(
  q: Float32Array,
  k: Float32Array,
  kpe: Float32Array,
  v: Float32Array,
  n: number,
  scale: number,
  out: Float32Array,
  lse: Float32Array,
): void {
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const vis = i + 1;
    for (let h = 0; h < H; h++) {
      const qo = (i * H + h) * DQ;
      const oo = (i * H + h) * DV;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < vis; j++) {
        const d = dot(q, qo, k, (j * H + h) * DK, DK) + dot(q, qo + DK, kpe, j * DR, DR);
        s[j] = d * scale;
        if (s[j]! > m) m = s[j]!;
      }
      let sum = 0;
      for (let j = 0; j < vis; j++) {
        s[j] = Math.exp(s[j]! - m);
        sum += s[j]!;
      }
      out.fill(0, oo, oo + DV);
      const inv = 1 / sum;
      for (let j = 0; j < vis; j++) {
        const w = s[j]! * inv;
        const vo = (j * H + h) * DV;
        for (let p = 0; p < DV; p++) out[oo + p]! += w * v[vo + p]!;
      }
      lse[i * H + h] = Math.log(sum) + m;
    }
  }
}

const b = createCpuMlaBackend();
const scale = 1 / Math.sqrt(DQ);
console.log(`cpu-mla prefill attention, causal, ${H} heads, q/k ${DK}+${DR}, v ${DV}; best of ${ROUNDS}`);
console.log('tokens | baseline ms | cpu-mla ms | ratio');
for (const n of SIZES) {
  const q = randoms(n * H * DQ, 1 + n);
  const k = randoms(n * H * DK, 2 + n);
  const kpe = randoms(n * DR, 3 + n);
  const v = randoms(n * H * DV, 4 + n);
  const refO = new Float32Array(n * H * DV);
  const refL = new Float32Array(n * H);
  const tq = b.upload(q, [n, H, DQ], 'f32');
  const tk = b.upload(k, [n, H, DK], 'f32');
  const tpe = b.upload(kpe, [n, DR], 'f32');
  const tv = b.upload(v, [n, H, DV], 'f32');
  const cu = b.upload(new Int32Array([0, n]), [2], 'i32');
  const out = b.alloc([n, H, DV], 'f32');
  const lse = b.alloc([n, H], 'f32');
  let tBase = Number.POSITIVE_INFINITY;
  let tOp = Number.POSITIVE_INFINITY;
  // Interleaved rounds, so a load spike on the shared host hits both alike.
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = cpuMs();
    baseline(q, k, kpe, v, n, scale, refO, refL);
    tBase = Math.min(tBase, cpuMs() - t0);
    t0 = cpuMs();
    b.attention(tq, tk, tpe, tv, { cuSeqLensQ: cu, cuSeqLensK: cu, causal: true }, scale, out, lse);
    tOp = Math.min(tOp, cpuMs() - t0);
  }
  const o = out.data as Float32Array;
  const l = lse.data as Float32Array;
  let maxRef = 0;
  let errO = 0;
  let errL = 0;
  for (let i = 0; i < o.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(refO[i]!));
    errO = Math.max(errO, Math.abs(o[i]! - refO[i]!));
  }
  for (let i = 0; i < l.length; i++) errL = Math.max(errL, Math.abs(l[i]! - refL[i]!));
  if (!(errO <= 1e-4 * maxRef && errL <= 1e-4)) {
    throw new Error(`cpu-mla differs from the baseline at ${n} tokens: out ${errO}, lse ${errL}`);
  }
  console.log(`${n} | ${tBase.toFixed(0)} | ${tOp.toFixed(0)} | ${(tBase / tOp).toFixed(2)}×`);
  for (const t of [tq, tk, tpe, tv, cu, out, lse]) b.dispose(t);
}
