// Does Dawn (npm webgpu 0.6.2) expose several GPUs as separate adapters? Run on a 2- or 4-GPU
// host with Node + dawn.node (see tooling/bench/results/webgpu-h200.md): node webgpu-adapters.mjs
import { spawnSync } from 'node:child_process';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const smi = (args) => (spawnSync('nvidia-smi', args, { encoding: 'utf8' }).stdout ?? 'no nvidia-smi').trim();
const info = async (gpu, opts) => {
  const a = await gpu.requestAdapter(opts);
  if (!a) return null;
  const o = {};
  for (const k in a.info) o[k] = a.info[k];
  return o;
};
if (process.argv[2] === 'child') {
  // Hold 8 GiB on whichever GPU the default adapter is, then read per-GPU memory.
  const gpu = create([]);
  const a = await gpu.requestAdapter();
  const d = await a.requestDevice({ requiredLimits: { maxBufferSize: a.limits.maxBufferSize } });
  const bufs = [0, 1, 2, 3].map(() =>
    d.createBuffer({ size: Number(process.env.PROBE_BYTES ?? 2 ** 31), usage: 0x80 | 0x8 }),
  );
  const e = d.createCommandEncoder();
  for (const b of bufs) e.clearBuffer(b);
  d.queue.submit([e.finish()]);
  await d.queue.onSubmittedWorkDone();
  console.log(
    `device ${a.info.device}; per-GPU MiB used: ${smi(['--query-gpu=index,memory.used', '--format=csv,noheader']).replace(/\n/g, ' | ')}`,
  );
  process.exit(0);
}
console.log(smi(['-L']));
{
  try {
    console.log(
      'adapter=__no_such_adapter__ ->',
      await create(['adapter=__no_such_adapter__']).requestAdapter(),
    );
  } catch (e) {
    console.log('adapter=__no_such_adapter__ threw:', String(e).replace(/\n/g, ' / '));
  }
}
const gpu = create([]);
for (const o of [
  undefined,
  { powerPreference: 'high-performance' },
  { powerPreference: 'low-power' },
  { featureLevel: 'compatibility' },
  { forceFallbackAdapter: true },
])
  console.log('requestAdapter', JSON.stringify(o ?? {}), '->', JSON.stringify(await info(gpu, o)));
for (const name of ['NVIDIA H200', 'H200', 'NVIDIA H200 (1)', '1']) {
  try {
    console.log(`create(['adapter=${name}'])`, '->', JSON.stringify(await info(create([`adapter=${name}`]))));
  } catch (e) {
    console.log(`adapter=${name}`, 'threw', String(e));
  }
}
for (const env of [
  {},
  { CUDA_VISIBLE_DEVICES: '1' },
  { NVIDIA_VISIBLE_DEVICES: '1' },
  { MESA_VK_DEVICE_SELECT: '1' },
]) {
  const r = spawnSync(process.execPath, [process.argv[1], 'child'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  const err = r.stderr
    .split('\n')
    .filter((l) => l && !l.includes('artificially'))
    .join(' ')
    .slice(0, 200);
  console.log('child env', JSON.stringify(env), '->', r.stdout.trim(), err);
}
process.exit(0);
