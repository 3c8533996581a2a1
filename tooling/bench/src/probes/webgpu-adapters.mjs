// Does Dawn (npm webgpu 0.6.2) expose several GPUs as separate adapters, and can a process (or a
// thread) choose one? Run on a 2- or 4-GPU host with Node + dawn.node (see
// tooling/bench/results/webgpu-h200.md): node webgpu-adapters.mjs
// Each check allocates GiBs on whatever GPU its adapter is and reads per-GPU memory from nvidia-smi.
import { spawnSync } from 'node:child_process';
import { isMainThread, parentPort, SHARE_ENV, Worker, workerData } from 'node:worker_threads';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const smi = (args) => (spawnSync('nvidia-smi', args, { encoding: 'utf8' }).stdout ?? 'no nvidia-smi').trim();
const used = () => smi(['--query-gpu=index,memory.used', '--format=csv,noheader']).replace(/\n/g, ' | ');
const GiB = 2 ** 30;

/** Opens a device on the first adapter Dawn returns now and fills `gib` GiB on it. */
async function hold(gib, flags = []) {
  const gpu = create(flags);
  const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!a) return { gpu, name: 'no adapter' };
  const d = await a.requestDevice({ requiredLimits: { maxBufferSize: a.limits.maxBufferSize } });
  const bufs = [];
  for (let i = 0; i < gib; i++) bufs.push(d.createBuffer({ size: GiB, usage: 0x80 | 0x8 }));
  const e = d.createCommandEncoder();
  for (const b of bufs) e.clearBuffer(b);
  d.queue.submit([e.finish()]);
  await d.queue.onSubmittedWorkDone();
  return { gpu, d, bufs, name: a.info.device };
}

if (!isMainThread) {
  // Worker: set the shared environment, open a device, report, wait for release.
  const { env, gib } = workerData;
  Object.assign(process.env, env);
  const h = await hold(gib);
  parentPort.postMessage(`${JSON.stringify(env)} -> ${h.name}`);
  parentPort.once('message', () => process.exit(0));
} else if (process.argv[2] === 'child') {
  const h = await hold(Number(process.env.PROBE_GIB ?? 8));
  console.log(`device ${h.name}; per-GPU MiB used: ${used()}`);
  process.exit(0);
} else {
  console.log(smi(['-L']));
  const bus = smi(['--query-gpu=pci.bus_id', '--format=csv,noheader']).split('\n');
  // "00000000:19:00.0" -> Mesa's DRI_PRIME tag "pci-0000_19_00_0"
  const tags = bus.map((b) => {
    const m = /([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.([0-7])/i.exec(b);
    return m ? `pci-${m[1].slice(-4)}_${m[2]}_${m[3]}_${m[4]}`.toLowerCase() : '?';
  });
  console.log('PCI tags', tags.join(' '));
  try {
    console.log('adapter=__none__ ->', await create(['adapter=__none__']).requestAdapter());
  } catch (e) {
    console.log('adapter=__none__ threw:', String(e).replace(/\n/g, ' / '));
  }
  console.log('idle per-GPU MiB used:', used());
  const variants = [
    {},
    { CUDA_VISIBLE_DEVICES: '1' },
    { NVIDIA_VISIBLE_DEVICES: '1' },
    ...tags
      .slice(1, 2)
      .flatMap((t) => [{ DRI_PRIME: t }, { DRI_PRIME: t, MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' }]),
    { MESA_VK_DEVICE_SELECT: 'list' },
  ];
  for (const env of variants) {
    const r = spawnSync(process.execPath, [process.argv[1], 'child'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    const err = r.stderr
      .split('\n')
      .filter((l) => l && !l.includes('artificially'))
      .join(' / ')
      .slice(0, 400);
    console.log('child env', JSON.stringify(env), '->', r.stdout.trim(), err);
  }
  // One process, main thread: change DRI_PRIME between two Dawn instances.
  const held = [];
  for (const t of tags.slice(0, 2)) {
    process.env.DRI_PRIME = t;
    held.push(await hold(4));
    console.log(`main thread DRI_PRIME=${t}: ${held.at(-1).name}; per-GPU MiB used: ${used()}`);
  }
  delete process.env.DRI_PRIME;
  for (const h of held) h.d?.destroy();
  // Worker threads sharing the real environment, one after the other.
  const ws = [];
  for (const t of tags.slice(0, 2)) {
    const w = new Worker(new URL(import.meta.url), {
      env: SHARE_ENV,
      workerData: { env: { DRI_PRIME: t }, gib: 4 },
    });
    console.log('worker', await new Promise((res, rej) => w.once('message', res).once('error', rej)));
    console.log('  per-GPU MiB used:', used());
    ws.push(w);
  }
  for (const w of ws) w.postMessage('done');
  process.exit(0);
}
