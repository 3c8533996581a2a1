/**
 * Hardware ceilings for the WebGPU benchmarks, measured on a device of their own (raw WebGPU, no
 * backend): the f32 FMA rate and four streaming rates over 256 MiB buffers —
 * - `copyBufferToBuffer` (the driver's own copy: the analogue of CUDA's device-to-device copy),
 * - a WGSL vec4 copy (one read + one write per invocation),
 * - a WGSL vec4 add of two buffers into a third (two reads + one write),
 * - a WGSL vec4 read-only stream (each invocation reads 64 bytes and writes nothing unless the
 *   data say so — they never do), the rate a decode kernel, which only reads, could approach.
 * Timing: 0.4 s of sustained submissions first (the GPU clocks down between bursts), then 5 rounds
 * of `reps` passes in one command buffer each, median round; two passes over the streams, the
 * faster of each.
 */

export interface Ceilings {
  /** f32 vec4 FMA chains, TFLOP/s. */
  fmaTflops: number;
  /** GB/s counting bytes read + written. */
  copyEngine: number;
  wgslCopy: number;
  wgslAdd: number;
  /** GB/s of bytes read. */
  wgslRead: number;
  /** The copy ceiling: the best of copyEngine, wgslCopy and wgslAdd. */
  copy: number;
}

const USAGE_STORAGE = 0x80;
const USAGE_COPY_SRC = 0x4;
const USAGE_COPY_DST = 0x8;
const USAGE_MAP_READ = 0x1;

const fmaWgsl = (iter: number) => `@group(0) @binding(0) var<storage, read_write> o: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.x + g.y * n.x * 256u;
  let k = vec4<f32>(f32(i & 7u) * 1e-3 + 0.999);
  var a0 = vec4<f32>(f32(i)); var a1 = a0 + 1.0; var a2 = a0 + 2.0; var a3 = a0 + 3.0;
  var a4 = a0 + 4.0; var a5 = a0 + 5.0; var a6 = a0 + 6.0; var a7 = a0 + 7.0;
  for (var j = 0u; j < ${iter}u; j++) {
    a0 = fma(a0, k, k); a1 = fma(a1, k, k); a2 = fma(a2, k, k); a3 = fma(a3, k, k);
    a4 = fma(a4, k, k); a5 = fma(a5, k, k); a6 = fma(a6, k, k); a7 = fma(a7, k, k);
  }
  o[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}`;

const INDEX = 'let i = g.x + g.y * n.x * 256u;';
const ENTRY = `@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {`;
const COPY = `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> c: array<vec4<f32>>;
${ENTRY} ${INDEX} if (i < arrayLength(&c)) { c[i] = a[i]; } }`;
const ADD = `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
${ENTRY} ${INDEX} if (i < arrayLength(&c)) { c[i] = a[i] + b[i]; } }`;
// Four vec4 per invocation, strided by the grid so every load instruction is coalesced.
const READ = `@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> c: array<vec4<f32>>;
${ENTRY} ${INDEX} let s = n.x * n.y * 256u;
  let v = a[i] + a[i + s] + a[i + 2u * s] + a[i + 3u * s];
  if (v.x == -1.0) { c[i] = v; } }`;

/**
 * Measures the ceilings on a new device of `gpu`'s high-performance adapter (destroyed before
 * returning). Dawn's instance (`gpu`) must stay referenced while its devices work: the caller
 * holds it.
 */
export async function measureCeilings(gpu: GPU, quick: boolean): Promise<Ceilings> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('measureCeilings: no adapter');
  const d = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  try {
    const bytes = quick ? 4 << 20 : 256 << 20;
    const buf = (usage: number) => d.createBuffer({ size: bytes, usage: USAGE_STORAGE | usage });
    const [a, b, c] = [buf(USAGE_COPY_SRC), buf(0), buf(USAGE_COPY_DST | USAGE_COPY_SRC)];
    const read = d.createBuffer({ size: 16, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    const kernel = (code: string, bufs: GPUBuffer[], invocations: number) => {
      const pipeline = d.createComputePipeline({
        layout: 'auto',
        compute: { module: d.createShaderModule({ code }), entryPoint: 'main' },
      });
      const group = d.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const groups = Math.ceil(invocations / 256);
      return (enc: GPUCommandEncoder) => {
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
        pass.end();
      };
    };
    /** Seconds per pass of `encode` (sustained first, then the median of 5 rounds). */
    const time = async (encode: (enc: GPUCommandEncoder) => void): Promise<number> => {
      const round = async (reps: number) => {
        const t0 = performance.now();
        const enc = d.createCommandEncoder();
        for (let r = 0; r < reps; r++) encode(enc);
        enc.copyBufferToBuffer(c, 0, read, 0, 16);
        d.queue.submit([enc.finish()]);
        await read.mapAsync(USAGE_MAP_READ);
        read.unmap();
        return (performance.now() - t0) / reps;
      };
      let per = await round(1);
      const w0 = performance.now();
      while (performance.now() - w0 < 400) per = await round(Math.max(1, Math.ceil(50 / per)));
      const reps = Math.max(3, Math.ceil(100 / per));
      const rounds: number[] = [];
      for (let r = 0; r < 5; r++) rounds.push(await round(reps));
      rounds.sort((x, y) => x - y);
      return rounds[2]! / 1000;
    };
    const n4 = bytes / 16;
    // Two passes over the streams, each its faster pass (as the decode bench times its kernels):
    // a stream timed while the clocks were still rising would lower the ceiling.
    let copyEngine = 0;
    let wgslCopy = 0;
    let wgslAdd = 0;
    let wgslRead = 0;
    for (let pass = 0; pass < (quick ? 1 : 2); pass++) {
      copyEngine = Math.max(
        copyEngine,
        (2 * bytes) / (await time((e) => e.copyBufferToBuffer(a, 0, c, 0, bytes))) / 1e9,
      );
      wgslCopy = Math.max(wgslCopy, (2 * bytes) / (await time(kernel(COPY, [a, c], n4))) / 1e9);
      wgslAdd = Math.max(wgslAdd, (3 * bytes) / (await time(kernel(ADD, [a, b, c], n4))) / 1e9);
      wgslRead = Math.max(wgslRead, bytes / (await time(kernel(READ, [a, c], n4 / 4))) / 1e9);
    }
    const iter = quick ? 64 : 4096;
    const fmaGroups = quick ? 64 : 132 * 64;
    const o = d.createBuffer({ size: fmaGroups * 256 * 16, usage: USAGE_STORAGE | USAGE_COPY_SRC });
    const fmaT = await time(kernel(fmaWgsl(iter), [o], fmaGroups * 256));
    const fmaTflops = (fmaGroups * 256 * iter * 8 * 4 * 2) / fmaT / 1e12;
    return {
      fmaTflops,
      copyEngine,
      wgslCopy,
      wgslAdd,
      wgslRead,
      copy: Math.max(copyEngine, wgslCopy, wgslAdd),
    };
  } finally {
    d.destroy();
  }
}
