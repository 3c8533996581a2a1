import { describe, expect, it } from 'vitest';
import { WEBGPU_MLA_CONFIG_KEYS, webgpuMlaConfigOptions } from './config-options.js';

describe('webgpuMlaConfigOptions', () => {
  it('passes every settable key through with a valid value', () => {
    const config = {
      decodeKernel: 'flash',
      dawnFlags: ['enable-dawn-features=disable_robustness'],
      f16Storage: 'packed',
      hostCache: false,
      maxSegmentBytes: 4096,
      powerPreference: 'low-power',
    };
    expect(webgpuMlaConfigOptions(config)).toEqual(config);
    expect([...WEBGPU_MLA_CONFIG_KEYS].sort()).toEqual(Object.keys(config).sort());
    expect(webgpuMlaConfigOptions({})).toEqual({});
  });

  it.each([
    [{ decodeKernel: 'fast' }, /decodeKernel must be one of auto, flash, tiled, compact, got "fast"/],
    [{ dawnFlags: 'backend=vulkan' }, /dawnFlags must be a list of Dawn flags/],
    [{ dawnFlags: [''] }, /dawnFlags must be a list/],
    [{ f16Storage: 'native' }, /f16Storage must be one of auto, packed/],
    [{ hostCache: 'yes' }, /hostCache must be true or false, got "yes"/],
    [{ maxSegmentBytes: 1000.5 }, /maxSegmentBytes must be a positive multiple of 4/],
    [{ maxSegmentBytes: 0 }, /maxSegmentBytes must be a positive multiple of 4/],
    [{ powerPreference: 'fast' }, /powerPreference must be one of high-performance, low-power/],
    [{ pciBusId: '0000:19:00.0' }, /unknown key 'pciBusId' \(known: decodeKernel, dawnFlags/],
    [{ decodekernel: 'flash' }, /unknown key 'decodekernel'/],
  ])('refuses %j naming the key', (config, message) => {
    expect(() => webgpuMlaConfigOptions(config)).toThrow(message);
  });
});
