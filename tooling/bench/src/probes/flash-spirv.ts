/**
 * The SPIR-V Dawn makes of the streaming decode kernel (`decode-flash.ts`) for H200-sized plans
 * (32 lanes, latent 512 + 64, bf16 cache, f32 queries), assembled to binaries that
 * `vk-pipeline-stats.c` compiles on the GPU host to print the driver's register count and local
 * memory per invocation — what a profiler would say about occupancy, which Dawn does not expose.
 *
 *   pnpm --filter @dcp/bench exec tsx src/probes/flash-spirv.ts OUTDIR ['{"name": {plan options}}']
 *
 * Needs `spirv-as` (Debian `spirv-tools`; `SPIRV_AS=path` to pick one) and a Dawn adapter here
 * (lavapipe will do: Tint's output does not depend on the adapter's subgroup size). Writes
 * OUTDIR/<name>.wgsl and OUTDIR/<name>.spv; the kernel's bindings are `usssssss` (uniform, then
 * storage buffers) for `vk-pipeline-stats`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dawnGpu } from '@dcp/webgpu-mla';
import { flashWgsl, makeFlashPlan } from '../../../../packages/webgpu-mla/src/decode-flash.js';

type PlanOptions = Parameters<typeof makeFlashPlan>[6] & { heads?: number };

/** Child mode: compile one WGSL file with Dawn's shader dump on (the dump goes to stdout). */
async function compile(file: string): Promise<void> {
  const gpu = await dawnGpu(['enable-dawn-features=dump_shaders,disable_symbol_renaming']);
  const adapter = await gpu?.requestAdapter();
  if (!adapter) throw new Error('flash-spirv: no WebGPU adapter');
  const device = await adapter.requestDevice({
    requiredFeatures: ['subgroups' as GPUFeatureName],
    requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize },
  });
  const module = device.createShaderModule({ code: readFileSync(file, 'utf8') });
  device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  await device.queue.onSubmittedWorkDone();
}

/**
 * Assembles Dawn's disassembly. Debian 12's spirv-as predates `MaximallyReconvergesKHR`
 * (execution mode 6023): a placeholder mode without operands is assembled and its word patched.
 */
function assemble(text: string, out: string): void {
  const PLACEHOLDER = 7; // OriginUpperLeft
  writeFileSync(`${out}.spvasm`, text.replace(/MaximallyReconvergesKHR/g, 'OriginUpperLeft'));
  execFileSync(process.env.SPIRV_AS ?? 'spirv-as', ['--target-env', 'vulkan1.3', '-o', out, `${out}.spvasm`]);
  const bin = readFileSync(out);
  const w = new Uint32Array(bin.buffer, bin.byteOffset, bin.length / 4);
  let patched = 0;
  // OpExecutionMode (opcode 16) of three words: entry, mode.
  for (let i = 5; i < w.length; i += w[i]! >>> 16)
    if (w[i] === ((3 << 16) | 16) && w[i + 2] === PLACEHOLDER) {
      w[i + 2] = 6023;
      patched++;
    }
  if (patched !== (text.includes('MaximallyReconvergesKHR') ? 1 : 0))
    throw new Error(`flash-spirv: patched ${patched} execution modes in ${out}`);
  writeFileSync(out, bin);
}

async function main(): Promise<void> {
  const [out, plansJson] = process.argv.slice(2);
  if (!out) throw new Error('usage: flash-spirv.ts OUTDIR [\'{"name": {plan options}}\']');
  const plans: Record<string, PlanOptions> = plansJson
    ? JSON.parse(plansJson)
    : { 'flash-k8': {}, 'flash-k4': { k: 4 }, 'flash-k2': { k: 2 }, 'flash-8heads': { heads: 8 } };
  mkdirSync(out, { recursive: true });
  const cache = { dtype: 'bf16' as const, fast: true, segments: 1, segUnits: 1 << 26 };
  for (const [name, o] of Object.entries(plans)) {
    const file = `${out}/${name}.wgsl`;
    writeFileSync(
      file,
      flashWgsl(makeFlashPlan(o.heads ?? 4, 32, 576, 512, cache, 'f32', { blockSize: 64, ...o })),
    );
    // The dump goes to stdout (Dawn's warnings to stderr); a file, as a pipe came back cut short.
    const logFile = `${out}/${name}.log`;
    const fd = openSync(logFile, 'w');
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--compile', file], {
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
    });
    closeSync(fd);
    const log = readFileSync(logFile, 'utf8');
    const at = log.indexOf('/* Dumped SPIRV disassembly */');
    if (child.status !== 0 || at < 0)
      throw new Error(`flash-spirv: ${name}: no SPIR-V dumped\n${child.stderr.slice(-2000)}`);
    const text = log
      .slice(at)
      .split('\n')
      .slice(1)
      .join('\n')
      .split(/^info:/m)[0]!;
    assemble(text, `${out}/${name}.spv`);
    rmSync(logFile);
    rmSync(`${out}/${name}.spv.spvasm`);
    console.log(`${name}: ${out}/${name}.spv`);
  }
}

if (process.argv[2] === '--compile') await compile(process.argv[3]!);
else await main();
