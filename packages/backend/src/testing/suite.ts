/**
 * The conformance suite's plumbing: options, filters, the per-case context, the runner and the
 * report. The cases themselves live in `cases-*.ts`.
 */
import { type Communicator, createLocalCommunicators } from '@dcp/parallel-state';
import type { AttentionBackend, BackendConfig, BackendDescriptor } from '../descriptor.js';
import type { DType, FloatDType, Tensor } from '../tensor.js';
import { assertClose, decode, encode, TOLERANCE } from './host.js';
import { caseSeed, createRng, type Rng } from './rng.js';

/**
 * Skips every case whose name matches. `reason` is mandatory: a filter without one is refused,
 * so every gap in a backend's conformance is written down next to the filter.
 */
export interface ConformanceFilter {
  /** A name prefix (string) or a pattern. */
  match: string | RegExp;
  /** Why the backend cannot pass these cases yet (shown in the report). */
  reason: string;
}

/** Options of the suite. */
export interface ConformanceOptions<T extends Tensor = Tensor, B = unknown> {
  /** The backend under test. Instances are created with `create({ config })`. */
  descriptor: BackendDescriptor<T, B>;
  /** Overrides of the configuration passed to `create` (defaults come from the capabilities). */
  config?: Partial<BackendConfig>;
  /**
   * Communicators for `size` simulated ranks (DCP cases). Default: `createLocalCommunicators`
   * from `@dcp/parallel-state`, which moves host typed arrays (fine for backends whose
   * `commBuffer` is a typed array).
   */
  communicators?: (size: number) => Communicator<B>[] | Promise<Communicator<B>[]>;
  /** Cases to skip, each with its reason. */
  filters?: readonly ConformanceFilter[];
  /** Base seed (default 1234); each case derives its own from its name. */
  seed?: number;
  /** DCP sizes of the simulated-rank cases (default 1, 2, 3, 4, 8). */
  dcpSizes?: readonly number[];
}

/** What a case body receives. */
export interface CaseContext<T extends Tensor = Tensor, B = unknown> {
  /** A shared instance (created on first use). */
  backend(): Promise<AttentionBackend<T, B>>;
  /** A fresh instance for one simulated rank; destroyed after the case. */
  createRank(): Promise<AttentionBackend<T, B>>;
  /** Communicators of a new simulated group. */
  communicators(size: number): Promise<Communicator<B>[]>;
  /** This case's PRNG. */
  rng: Rng;
  /** Records a comparison's error for the report. */
  note(err: number): void;
}

/** One case of the suite. */
export interface ConformanceCase {
  /** `group/name [variant]`. */
  name: string;
  /** Set when a filter skips the case: the filter's reason. */
  skip?: string;
  /** Runs the case; rejects with a readable message on a mismatch. */
  run(): Promise<void>;
}

/** A case definition before binding to options. */
export interface CaseDef {
  name: string;
  body: (ctx: CaseContext) => Promise<void>;
}

/** Outcome of one case. */
export interface CaseResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  /** Failure message or skip reason. */
  detail?: string;
  /** Largest normalised error seen by the case's comparisons. */
  maxError?: number;
  ms: number;
}

/** The suite's report. */
export interface ConformanceReport {
  backend: string;
  seed: number;
  passed: number;
  failed: number;
  skipped: number;
  results: CaseResult[];
}

/** The default configuration a case's backend is created for. */
export function defaultConfig(d: BackendDescriptor, over: Partial<BackendConfig> = {}): BackendConfig {
  const caps = d.capabilities;
  const bs = caps.blockSizes[0];
  return {
    dtype: caps.dtypes[0] ?? 'f32',
    kvCacheDtype: caps.kvCacheDtypes[0] ?? 'f32',
    blockSize: bs === undefined ? 16 : typeof bs === 'number' ? bs : bs.multipleOf,
    kvLoraRank: 512,
    ropeDim: 64,
    numHeads: 16,
    dcp: 1,
    interleave: 1,
    ...over,
  };
}

function checkFilters(filters: readonly ConformanceFilter[]): void {
  for (const f of filters) {
    if (typeof f.reason !== 'string' || f.reason.trim() === '') {
      throw new TypeError(`conformance filter ${String(f.match)}: every filter needs a reason comment`);
    }
  }
}

function filterReason(name: string, filters: readonly ConformanceFilter[]): string | undefined {
  for (const f of filters) {
    if (typeof f.match === 'string' ? name.startsWith(f.match) : f.match.test(name)) return f.reason;
  }
  return undefined;
}

/** Tracks the worst error of the current case (one per bound case). */
interface Tracker {
  max: number;
}

/**
 * A case context outside the suite (for a backend's own tests of DCP scenarios): ranks come
 * from `options.descriptor`, communicators from `options.communicators` (default: in-process).
 * Call `dispose()` when done.
 */
export function createCaseContext<T extends Tensor, B>(
  options: ConformanceOptions<T, B>,
  name: string,
): CaseContext & { dispose(): void } {
  const config = defaultConfig(options.descriptor as unknown as BackendDescriptor, options.config);
  const made: AttentionBackend<T, B>[] = [];
  const create = async () => {
    const b = await options.descriptor.create({ config });
    made.push(b);
    return b;
  };
  let shared: AttentionBackend<T, B> | undefined;
  const ctx: CaseContext<T, B> & { dispose(): void } = {
    backend: async () => {
      shared ??= await create();
      return shared;
    },
    createRank: create,
    communicators: async (size) =>
      options.communicators
        ? await options.communicators(size)
        : (createLocalCommunicators(size) as unknown as Communicator<B>[]),
    rng: createRng(caseSeed(options.seed ?? 1234, name)),
    note: () => {},
    dispose: () => {
      for (const b of made) b.destroy();
    },
  };
  return ctx as unknown as CaseContext & { dispose(): void };
}

/** Binds case definitions to options: the list a runner (vitest, a script) iterates. */
export function bindCases<T extends Tensor, B>(
  defs: CaseDef[],
  options: ConformanceOptions<T, B>,
  trackers?: Map<string, Tracker>,
): ConformanceCase[] {
  const filters = options.filters ?? [];
  checkFilters(filters);
  const seed = options.seed ?? 1234;
  const desc = options.descriptor;
  const config = defaultConfig(desc as unknown as BackendDescriptor, options.config);
  let shared: AttentionBackend<T, B> | undefined;
  return defs.map((def) => {
    const skip = filterReason(def.name, filters);
    const tracker: Tracker = { max: 0 };
    trackers?.set(def.name, tracker);
    const run = async (): Promise<void> => {
      const ranks: AttentionBackend<T, B>[] = [];
      const ctx: CaseContext<T, B> = {
        backend: async () => {
          shared ??= await desc.create({ config });
          return shared;
        },
        createRank: async () => {
          const b = await desc.create({ config });
          ranks.push(b);
          return b;
        },
        communicators: async (size) =>
          options.communicators
            ? await options.communicators(size)
            : (createLocalCommunicators(size) as unknown as Communicator<B>[]),
        rng: createRng(caseSeed(seed, def.name)),
        note: (err) => {
          if (err > tracker.max) tracker.max = err;
        },
      };
      tracker.max = 0;
      try {
        await def.body(ctx as unknown as CaseContext);
      } finally {
        for (const b of ranks) b.destroy();
      }
    };
    return skip === undefined ? { name: def.name, run } : { name: def.name, skip, run };
  });
}

/** Runs every case in order and collects a report (never throws for a failing case). */
export async function runCases<T extends Tensor, B>(
  defs: CaseDef[],
  options: ConformanceOptions<T, B>,
): Promise<ConformanceReport> {
  const trackers = new Map<string, Tracker>();
  const cases = bindCases(defs, options, trackers);
  const results: CaseResult[] = [];
  for (const c of cases) {
    const t0 = Date.now();
    if (c.skip !== undefined) {
      results.push({ name: c.name, status: 'skipped', detail: c.skip, ms: 0 });
      continue;
    }
    try {
      await c.run();
      results.push({
        name: c.name,
        status: 'passed',
        maxError: trackers.get(c.name)?.max ?? 0,
        ms: Date.now() - t0,
      });
    } catch (e) {
      results.push({
        name: c.name,
        status: 'failed',
        detail: e instanceof Error ? e.message : String(e),
        ms: Date.now() - t0,
      });
    }
  }
  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  return {
    backend: options.descriptor.name,
    seed: options.seed ?? 1234,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    results,
  };
}

/** A readable multi-line report: a summary line, failures first, then skips, then passes. */
export function formatConformanceReport(r: ConformanceReport): string {
  const lines = [
    `conformance of backend '${r.backend}' (seed ${r.seed}): ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`,
  ];
  for (const x of r.results.filter((x) => x.status === 'failed'))
    lines.push(`  FAIL ${x.name}\n       ${x.detail}`);
  for (const x of r.results.filter((x) => x.status === 'skipped'))
    lines.push(`  SKIP ${x.name} — ${x.detail}`);
  for (const x of r.results.filter((x) => x.status === 'passed')) {
    lines.push(`  ok   ${x.name} (max err ${(x.maxError ?? 0).toExponential(1)}, ${x.ms} ms)`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- helpers for case bodies

/** Uploads float64 values as `dtype`; returns the tensor and the values it holds. */
export function put<T extends Tensor>(
  b: AttentionBackend<T, unknown>,
  values: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType,
): { t: T; v: Float64Array } {
  const { data, stored } = encode(values, dtype);
  return { t: b.upload(data, shape, dtype), v: stored };
}

/** Downloads a tensor as float64. */
export async function get<T extends Tensor>(b: AttentionBackend<T, unknown>, t: T): Promise<Float64Array> {
  return decode(await b.download(t), t.dtype);
}

/** Compares a tensor with a float64 reference at the tolerance of `dtype` (default: the tensor's). */
export async function expectTensor<T extends Tensor>(
  ctx: CaseContext,
  b: AttentionBackend<T, unknown>,
  t: T,
  expected: ArrayLike<number>,
  label: string,
  dtype?: FloatDType,
  tol?: number,
): Promise<void> {
  tol ??= TOLERANCE[dtype ?? (t.dtype === 'i32' ? 'f32' : (t.dtype as FloatDType))];
  ctx.note(assertClose(await get(b, t), expected, tol, label));
}
