/**
 * Which MLA decode split kernel a backend instance uses, and its tuning (per instance; the
 * benchmark sweeps it).
 */

/** The decode kernel choice and tuning. */
export interface DecodeOptions {
  /**
   * `'flash'`: each subgroup streams its own keys with an online softmax (`decode-flash.ts`);
   * it needs a single subgroup size of at least 8 lanes, vector-loadable rows and a latent width
   * divisible by 8, and falls back to `'tiled'` otherwise. `'tiled'`: workgroup tiles of keys
   * with subgroup scores (`decode-kernel.ts`). `'compact'`: the tiled kernel's plain path with
   * one value row per step — small code, which software adapters compile in seconds rather than
   * minutes (they run each invocation as an LLVM coroutine split at every barrier). Element-wise
   * rows (odd widths) always take `'compact'`. `'auto'`: compact on software adapters; else flash
   * (faster than tiled at every shape measured on the H200, 4 to 128 heads).
   */
  kernel: 'auto' | 'flash' | 'tiled' | 'compact';
  /**
   * Flash: heads per workgroup, 1, 2, 4 or 8 (0: the heads themselves where there are 1 or 2,
   * else 4 — no padded heads' arithmetic, and 4 measured faster than 8 at every shape).
   */
  flashHeads: 0 | 1 | 2 | 4 | 8;
  /** Flash: keys per subgroup step, a power of two (0: as many as the subgroup's lanes allow). */
  flashKeys: number;
  /** Flash: subgroups per workgroup (1 to 8; default 2, 1–3 % ahead of 4 on the H200). */
  flashSubgroups: number;
  /** Flash: load the next step's rows before this step's arithmetic (twice the row registers). */
  flashPrefetch: boolean;
  /**
   * Workgroups to aim for when splitting the keys (0: the device default, 512 on GPUs). More
   * splits mean more waves of workgroups (a smaller idle tail) and a larger merge.
   */
  targetGroups: number;
}

/** The defaults (`kernel` from the backend option `decodeKernel`, else `'auto'`). */
export function defaultDecodeOptions(kernel: DecodeOptions['kernel'] = 'auto'): DecodeOptions {
  return {
    kernel,
    flashHeads: 0,
    flashKeys: 0,
    flashSubgroups: 2,
    flashPrefetch: false,
    targetGroups: 0,
  };
}

/** Checks decode options, naming the field. */
export function checkDecodeOptions(d: DecodeOptions): void {
  const bad = (f: string, v: unknown, want: string) => {
    throw new RangeError(`decode option ${f}: ${want}, got ${String(v)}`);
  };
  if (!['auto', 'flash', 'tiled', 'compact'].includes(d.kernel))
    bad('kernel', d.kernel, "must be 'auto', 'flash', 'tiled' or 'compact'");
  if (![0, 1, 2, 4, 8].includes(d.flashHeads)) bad('flashHeads', d.flashHeads, 'must be 0, 1, 2, 4 or 8');
  if (!(Number.isInteger(d.flashKeys) && d.flashKeys >= 0 && (d.flashKeys & (d.flashKeys - 1)) === 0))
    bad('flashKeys', d.flashKeys, 'must be 0 or a power of two');
  if (!(Number.isInteger(d.flashSubgroups) && d.flashSubgroups >= 1 && d.flashSubgroups <= 8))
    bad('flashSubgroups', d.flashSubgroups, 'must be an integer in [1, 8]');
  if (typeof d.flashPrefetch !== 'boolean') bad('flashPrefetch', d.flashPrefetch, 'must be a boolean');
  if (!(Number.isInteger(d.targetGroups) && d.targetGroups >= 0 && d.targetGroups <= 65536))
    bad('targetGroups', d.targetGroups, 'must be an integer in [0, 65536]');
}

/** The kernel an `mlaDecode` call ran (null: nothing to do). */
export type DecodeKernelRun = 'flash' | 'tiled' | 'compact' | null;
