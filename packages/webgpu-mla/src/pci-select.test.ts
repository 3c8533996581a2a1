import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deviceSelectLayer, driPrimeTag, pinnedGpu, withEnv, withLock } from './pci-select.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake XDG data dir; with `layer`, it holds a device-select manifest. */
function dataDir(layer: boolean): string {
  const d = mkdtempSync(join(tmpdir(), 'dcp-layer-'));
  dirs.push(d);
  mkdirSync(join(d, 'vulkan/implicit_layer.d'), { recursive: true });
  const name = layer ? 'VK_LAYER_MESA_device_select' : 'VK_LAYER_OTHER';
  writeFileSync(join(d, 'vulkan/implicit_layer.d/x.json'), JSON.stringify({ layer: { name } }));
  return d;
}
const isolated = (d: string) => ({ XDG_DATA_DIRS: d, XDG_CONFIG_DIRS: d, HOME: d });

describe('driPrimeTag', () => {
  it("writes Mesa's pci-DDDD_BB_SS_F tag from the spellings nvidia-smi and lspci print", () => {
    expect(driPrimeTag('00000000:19:00.0')).toBe('pci-0000_19_00_0');
    expect(driPrimeTag('0000:C1:1F.7')).toBe('pci-0000_c1_1f_7');
    expect(driPrimeTag('07:00.1')).toBe('pci-0000_07_00_1');
    expect(driPrimeTag(' 1:2:3.4 ')).toBe('pci-0001_02_03_4');
  });
  it.each(['', 'gpu1', '0000:19:00', '0000:19:00.8', '0000:190:00.0', '1'])(
    'rejects %j naming pciBusId',
    (id) => {
      expect(() => driPrimeTag(id)).toThrow(/^pciBusId: '.*' is not a PCI bus ID/);
    },
  );
});

describe('deviceSelectLayer', () => {
  it('finds the manifest in an XDG data dir, and not another layer', () => {
    expect(deviceSelectLayer(isolated(dataDir(true)))).toEqual({ ok: true });
    const r = deviceSelectLayer(isolated(dataDir(false)));
    expect(r.ok).toBe(false);
    expect(r.ok || r.why).toMatch(/VK_LAYER_MESA_device_select is not installed/);
  });
  it('says NODEVICE_SELECT=1 turns it off', () => {
    const r = deviceSelectLayer({ ...isolated(dataDir(true)), NODEVICE_SELECT: '1' });
    expect(r.ok || r.why).toMatch(/NODEVICE_SELECT/);
  });
});

describe('withEnv / withLock', () => {
  it('sets the variable only inside, and restores a previous value or its absence', () => {
    const name = `DCP_TEST_${Math.random().toString(36).slice(2)}`;
    expect(withEnv(name, 'a', () => process.env[name])).toBe('a');
    expect(name in process.env).toBe(false);
    process.env[name] = 'before';
    expect(() =>
      withEnv(name, 'b', () => {
        throw new Error('x');
      }),
    ).toThrow('x');
    expect(process.env[name]).toBe('before');
    delete process.env[name];
  });
  it('holds the lock inside and frees it after, also on throw', () => {
    const lock = new Int32Array(new SharedArrayBuffer(4));
    expect(withLock(lock, () => Atomics.load(lock, 0))).toBe(1);
    expect(Atomics.load(lock, 0)).toBe(0);
    expect(() =>
      withLock(lock, () => {
        throw new Error('y');
      }),
    ).toThrow('y');
    expect(Atomics.load(lock, 0)).toBe(0);
  });
});

describe('pinnedGpu', () => {
  const restore = { ...process.env };
  afterEach(() => {
    for (const k of ['XDG_DATA_DIRS', 'XDG_CONFIG_DIRS', 'HOME', 'DRI_PRIME']) {
      if (restore[k] === undefined) delete process.env[k];
      else process.env[k] = restore[k];
    }
  });
  const fakeGpu = (seen: (string | undefined)[]) =>
    ({
      requestAdapter(o?: GPURequestAdapterOptions) {
        seen.push(process.env.DRI_PRIME, o?.powerPreference);
        return Promise.resolve(null);
      },
      getPreferredCanvasFormat() {
        return this === gpuThis ? 'bound' : 'unbound';
      },
    }) as unknown as GPU;
  let gpuThis: unknown;

  it("requests the adapter with DRI_PRIME set to the bus's tag, under the lock, then clears it", async () => {
    Object.assign(process.env, isolated(dataDir(true)));
    delete process.env.DRI_PRIME;
    const seen: (string | undefined)[] = [];
    const raw = fakeGpu(seen);
    gpuThis = raw;
    const lock = new Int32Array(new SharedArrayBuffer(4));
    const g = pinnedGpu(raw, '0000:07:00.0', lock);
    await g.requestAdapter({ powerPreference: 'high-performance' });
    expect(seen).toEqual(['pci-0000_07_00_0', 'high-performance']);
    expect(process.env.DRI_PRIME).toBeUndefined();
    expect(Atomics.load(lock, 0)).toBe(0);
    expect(g.getPreferredCanvasFormat()).toBe('bound');
  });
  it('refuses without the layer, naming pciBusId and the layer', () => {
    Object.assign(process.env, isolated(dataDir(false)));
    expect(() => pinnedGpu(fakeGpu([]), '0000:07:00.0')).toThrow(
      /pciBusId 0000:07:00.0: .*device-select layer: VK_LAYER_MESA_device_select is not installed/,
    );
  });
});
