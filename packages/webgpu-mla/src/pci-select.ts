/**
 * Choosing one of several identically named GPUs under Dawn (Node, Linux, Vulkan).
 *
 * WebGPU cannot enumerate adapters and dawn.node's `adapter=` flag matches device names only, so
 * on a host with two H200s (both "NVIDIA H200") Dawn always returns the first; NVIDIA's Vulkan
 * driver ignores `CUDA_VISIBLE_DEVICES`. Mesa's Vulkan device-select layer (an implicit layer
 * shipped in Debian's `mesa-vulkan-drivers`) puts the GPU named by `DRI_PRIME=pci-DDDD_BB_SS_F`
 * first in every enumeration, for any driver. Dawn enumerates physical devices synchronously
 * inside `requestAdapter`, so the variable is set only around that call, under a lock shared by
 * the threads of the process (the environment is process-wide; a worker thread must be started
 * with `env: SHARE_ENV` for its writes to reach it).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const BUS_ID = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;
const LAYER = 'VK_LAYER_MESA_device_select';

/**
 * Mesa's `DRI_PRIME` tag of a PCI bus ID as `nvidia-smi --query-gpu=pci.bus_id` or `lspci -D`
 * print it (`00000000:19:00.0`, `0000:19:00.0` or `19:00.0`), e.g. `pci-0000_19_00_0`.
 * Throws naming `pciBusId` when it is not one.
 */
export function driPrimeTag(busId: string): string {
  const m = BUS_ID.exec(busId.trim());
  if (!m) {
    throw new Error(
      `pciBusId: '${busId}' is not a PCI bus ID (domain:bus:device.function, e.g. 0000:19:00.0 as nvidia-smi --query-gpu=pci.bus_id prints it)`,
    );
  }
  const hex = (s: string | undefined, n: number) => (s ?? '0').toLowerCase().padStart(n, '0').slice(-n);
  return `pci-${hex(m[1], 4)}_${hex(m[2], 2)}_${hex(m[3], 2)}_${m[4]}`;
}

/** The implicit-layer folders the Vulkan loader reads on Linux. */
function layerDirs(env: NodeJS.ProcessEnv): string[] {
  const data = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const config = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const home = env.XDG_DATA_HOME || (env.HOME ? join(env.HOME, '.local/share') : '');
  const roots = [...config, '/etc', ...data, home, ...(env.VK_ADD_IMPLICIT_LAYER_PATH ?? '').split(':')];
  return roots.filter(Boolean).flatMap((r) => [join(r, 'vulkan/implicit_layer.d'), r]);
}

/**
 * Whether Mesa's device-select layer is installed where the Vulkan loader finds it (and not
 * turned off by `NODEVICE_SELECT`); the reason when it is not.
 */
export function deviceSelectLayer(
  env: NodeJS.ProcessEnv = process.env,
): { ok: true } | { ok: false; why: string } {
  if (env.NODEVICE_SELECT === '1') return { ok: false, why: 'NODEVICE_SELECT=1 turns it off' };
  for (const dir of layerDirs(env)) {
    if (!existsSync(dir)) continue;
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        if (readFileSync(join(dir, n), 'utf8').includes(LAYER)) return { ok: true };
      } catch {}
    }
  }
  return {
    ok: false,
    why: `${LAYER} is not installed (Debian/Ubuntu: mesa-vulkan-drivers; Debian 12's Mesa 22.3 matches the tag inverted, Mesa 25 from bookworm-backports matches it)`,
  };
}

/** Runs `fn` holding `lock` (an `Int32Array` over shared memory, 0 = free), or directly without one. */
export function withLock<T>(lock: Int32Array | undefined, fn: () => T): T {
  if (!lock) return fn();
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) Atomics.wait(lock, 0, 1, 20);
  try {
    return fn();
  } finally {
    Atomics.store(lock, 0, 0);
    Atomics.notify(lock, 0, 1);
  }
}

/** Runs `fn` with the process environment variable `name` set to `value`, then restores it. */
export function withEnv<T>(name: string, value: string, fn: () => T): T {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/**
 * `gpu` whose `requestAdapter` returns the GPU at PCI bus `busId` (through the device-select
 * layer: see the file comment); other members are `gpu`'s. Throws naming `pciBusId` when the ID
 * is malformed or the layer is missing.
 */
export function pinnedGpu(gpu: GPU, busId: string, lock?: Int32Array): GPU {
  const tag = driPrimeTag(busId);
  const layer = deviceSelectLayer();
  if (!layer.ok)
    throw new Error(
      `pciBusId ${busId}: choosing a GPU needs Mesa's Vulkan device-select layer: ${layer.why}`,
    );
  const requestAdapter = (o?: GPURequestAdapterOptions) =>
    withLock(lock, () => withEnv('DRI_PRIME', tag, () => gpu.requestAdapter(o)));
  return new Proxy(gpu, {
    get(target, key) {
      if (key === 'requestAdapter') return requestAdapter;
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
