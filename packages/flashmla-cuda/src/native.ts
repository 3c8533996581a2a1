/**
 * Loading the native addon. Loading never throws: a missing or broken addon is reported as a
 * reason, like a missing driver.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A device view as the addon takes it: `[buffer, byteOffset]`. */
export type NativeView = readonly [NativeBuffer, number];

/** Device memory owned by the addon (freed stream-ordered on dispose or garbage collection). */
export interface NativeBuffer {
  readonly bytes: number;
  readonly disposed: boolean;
  readonly address: bigint;
  dispose(): void;
}

/** An instantiated CUDA graph. */
export interface NativeGraph {
  dispose(): void;
}

/** What `probe()` reports about the CUDA runtime and devices. */
export interface NativeProbe {
  available: boolean;
  code: number;
  reason: string;
  deviceCount: number;
  driverVersion: number;
  runtimeVersion: number;
  devices: {
    name: string;
    computeCapability: string;
    smCount: number;
    l2Bytes: number;
    totalBytes: number;
  }[];
}

/** One device and its stream, as the addon exposes it. Argument objects are checked natively. */
export interface NativeRank {
  readonly info: { device: number; smCount: number; l2Bytes: number };
  alloc(bytes: number): NativeBuffer;
  upload(dst: NativeView, data: ArrayBufferView): void;
  download<A extends ArrayBufferView>(src: NativeView, out: A): Promise<A>;
  memset(a: { dst: NativeView; value: number; bytes: number }): void;
  synchronize(): Promise<void>;
  synchronizeSync(): void;
  decodePlan(a: { tokens: number; heads: number; maxSeqLen: number; splits?: number }): {
    splits: number;
    workspaceBytes: number;
  };
  mlaDecode(a: Record<string, unknown>): void;
  kvWrite(a: Record<string, unknown>): void;
  contextGather(a: Record<string, unknown>): void;
  lseCorrect(a: Record<string, unknown>): void;
  lsePack(a: Record<string, unknown>): void;
  a2aCombine(a: Record<string, unknown>): void;
  fillUniform(a: { dst: NativeView; count: number; seed: number; lo: number; hi: number }): void;
  genericDecode(a: Record<string, unknown>): void;
  genericKvWrite(a: Record<string, unknown>): void;
  genericGather(a: Record<string, unknown>): void;
  fillPattern(a: Record<string, unknown>): void;
  copyColumns(a: Record<string, unknown>): void;
  gatherRows(a: Record<string, unknown>): void;
  lsePackF32(a: Record<string, unknown>): void;
  a2aCombineF32(a: Record<string, unknown>): void;
  beginCapture(): void;
  endCapture(): NativeGraph;
  launchGraph(g: NativeGraph): void;
  timeGraph(
    g: NativeGraph,
    iters: number,
    flush: NativeView | null,
    flushBytes: number,
  ): Promise<Float64Array>;
  dispose(): void;
}

/** The addon's exports. */
export interface NativeAddon {
  probe(): NativeProbe;
  NativeRank: new (device: number) => NativeRank;
  headDimQK: number;
  headDimV: number;
}

/** Result of loading the addon: the module, or why there is none. */
export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

/**
 * Where the addon may live, first match wins: `$DCP_FLASHMLA_ADDON`, the prebuilt copy inside
 * the published package (`dist/native/linux-x64/`), then a local `make` output (`build/`).
 */
export function addonCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const list: string[] = [];
  if (env.DCP_FLASHMLA_ADDON) list.push(env.DCP_FLASHMLA_ADDON);
  list.push(
    fileURLToPath(
      new URL(`./native/${process.platform}-${process.arch}/flashmla_cuda.node`, import.meta.url),
    ),
  );
  list.push(fileURLToPath(new URL('../build/flashmla_cuda.node', import.meta.url)));
  return list;
}

/** Loads the addon from the first candidate that exists; never throws. */
export function loadAddon(candidates: readonly string[] = addonCandidates()): AddonLoad {
  const require = createRequire(import.meta.url);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    return {
      ok: false,
      reason: `native addon not found (looked in ${candidates.join(', ')}); run \`pnpm --filter @dcp/flashmla-cuda build:native\``,
    };
  }
  try {
    const addon = require(found) as NativeAddon;
    if (typeof addon?.probe !== 'function' || typeof addon.NativeRank !== 'function') {
      return { ok: false, reason: `native addon ${found} failed to load: it is not the flashmla_cuda addon` };
    }
    return { ok: true, addon, path: found };
  } catch (e) {
    return {
      ok: false,
      reason: `native addon ${found} failed to load: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
