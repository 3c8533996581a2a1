/**
 * `webgpu-mla` options from plain JSON (the engine's `--attention-backend-config`): the keys a
 * user may set at startup, each checked, so that a typo or a wrong type fails before any rank
 * starts and names the key.
 */
import type { NodeRegisterOptions } from './node.js';

type Settable = Pick<
  NodeRegisterOptions,
  'decodeKernel' | 'dawnFlags' | 'f16Storage' | 'hostCache' | 'maxSegmentBytes' | 'powerPreference'
>;

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (v: unknown): T | string =>
    typeof v === 'string' && (values as readonly string[]).includes(v)
      ? (v as T)
      : `must be one of ${values.join(', ')}`;

/** Each key: its value, or the reason it is refused (a string starting with "must"). */
const KEYS: { [K in keyof Settable]-?: (v: unknown) => Settable[K] | string } = {
  decodeKernel: oneOf(['auto', 'flash', 'tiled', 'compact'] as const),
  dawnFlags: (v) =>
    Array.isArray(v) && v.every((f) => typeof f === 'string' && f.length > 0)
      ? (v as string[])
      : 'must be a list of Dawn flags (strings), e.g. ["enable-dawn-features=disable_robustness"]',
  f16Storage: oneOf(['auto', 'packed'] as const),
  hostCache: (v) => (typeof v === 'boolean' ? v : 'must be true or false'),
  maxSegmentBytes: (v) =>
    Number.isInteger(v) && (v as number) >= 4 && (v as number) % 4 === 0
      ? (v as number)
      : 'must be a positive multiple of 4 (bytes)',
  powerPreference: oneOf(['high-performance', 'low-power'] as const),
};

/** The keys `webgpuMlaConfigOptions` accepts. */
export const WEBGPU_MLA_CONFIG_KEYS = Object.keys(KEYS) as (keyof Settable)[];

/**
 * Register options from a JSON object, e.g. `{"decodeKernel": "flash", "dawnFlags":
 * ["enable-dawn-features=disable_robustness"]}`. Throws naming the key on an unknown key or a bad
 * value (the GPU choice is `--webgpu-devices`, not a key here).
 */
export function webgpuMlaConfigOptions(config: Record<string, unknown>): Settable {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const check = (KEYS as Record<string, (v: unknown) => unknown>)[key];
    if (!check) {
      throw new Error(
        `webgpu-mla config: unknown key '${key}' (known: ${WEBGPU_MLA_CONFIG_KEYS.join(', ')})`,
      );
    }
    const v = check(value);
    if (typeof v === 'string' && v.startsWith('must')) {
      throw new Error(`webgpu-mla config: ${key} ${v}, got ${JSON.stringify(value)}`);
    }
    out[key] = v;
  }
  return out as Settable;
}
