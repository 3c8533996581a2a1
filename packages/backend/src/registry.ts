/**
 * The backend registry (a plain value, never a module-level singleton) and selection.
 */
import { capabilityReasons } from './capabilities.js';
import type { AttentionBackend, BackendConfig, BackendDescriptor } from './descriptor.js';
import type { Tensor } from './tensor.js';

/** A set of registered backend descriptors. Create one with `createBackendRegistry()`. */
export interface BackendRegistry {
  /** Adds a descriptor; a second one with the same name replaces the first (an override). */
  register<T extends Tensor, B>(descriptor: BackendDescriptor<T, B>): void;
  /** Removes a backend by name; returns whether it was there. */
  unregister(name: string): boolean;
  /** The descriptor of `name`, if registered. */
  get(name: string): BackendDescriptor | undefined;
  /** All descriptors, highest priority first (ties: registration order). */
  list(): BackendDescriptor[];
}

/** Creates an empty registry. Backend packages export `registerXxx(registry)` to fill it. */
export function createBackendRegistry(): BackendRegistry {
  const entries = new Map<string, { descriptor: BackendDescriptor; order: number }>();
  let order = 0;
  return {
    register(descriptor) {
      if (typeof descriptor?.name !== 'string' || descriptor.name === '') {
        throw new TypeError('backend descriptor: name must be a non-empty string');
      }
      if (!Number.isFinite(descriptor.priority)) {
        throw new TypeError(`backend descriptor ${descriptor.name}: priority must be a finite number`);
      }
      if (typeof descriptor.create !== 'function') {
        throw new TypeError(`backend descriptor ${descriptor.name}: create must be a function`);
      }
      entries.set(descriptor.name, {
        descriptor: descriptor as unknown as BackendDescriptor,
        order: order++,
      });
    },
    unregister(name) {
      return entries.delete(name);
    },
    get(name) {
      return entries.get(name)?.descriptor;
    },
    list() {
      return [...entries.values()]
        .sort((a, b) => b.descriptor.priority - a.descriptor.priority || a.order - b.order)
        .map((e) => e.descriptor);
    },
  };
}

/** Every reason `descriptor` cannot serve `config`: capability-derived, then its own. */
export function backendReasons(descriptor: BackendDescriptor, config: BackendConfig): string[] {
  const reasons = capabilityReasons(descriptor.capabilities, config);
  if (descriptor.validateConfiguration) {
    try {
      reasons.push(...descriptor.validateConfiguration(config));
    } catch (e) {
      reasons.push(`validateConfiguration threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return reasons;
}

/** Thrown when no backend (or not the forced one) can serve a configuration. */
export class NoBackendError extends Error {
  /** Reasons per backend name (an unknown forced name appears with its own reason). */
  readonly reasons: Readonly<Record<string, readonly string[]>>;
  constructor(message: string, reasons: Record<string, string[]>) {
    super(message);
    this.name = 'NoBackendError';
    this.reasons = reasons;
  }
}

/** Options of `selectBackend`. */
export interface SelectBackendOptions {
  /** Force this backend (`--attention-backend NAME`); it must be valid or selection throws. */
  name?: string;
  /** Device index passed to the factory. */
  deviceIndex?: number;
}

/** The chosen backend and why the others were not. */
export interface BackendSelection {
  /** The created instance. */
  backend: AttentionBackend;
  /** Its descriptor. */
  descriptor: BackendDescriptor;
  /** Reasons for every backend tried before (or instead of) the chosen one. */
  rejected: Record<string, string[]>;
}

function describeConfig(c: BackendConfig): string {
  return `dtype=${c.dtype} kvCacheDtype=${c.kvCacheDtype} blockSize=${c.blockSize} latent=${c.kvLoraRank}+${c.ropeDim} heads=${c.numHeads} dcp=${c.dcp} interleave=${c.interleave}`;
}

function formatReasons(reasons: Record<string, string[]>): string {
  return Object.entries(reasons)
    .map(([name, rs]) => `  - ${name}: ${rs.join('; ')}`)
    .join('\n');
}

/**
 * Picks the highest-priority backend that can serve `config` and whose factory succeeds. A
 * factory that throws is skipped with its message kept as a reason. Throws one
 * `NoBackendError` listing every backend with its reasons when none fits, or when `o.name`
 * is unknown or cannot serve the configuration.
 */
export async function selectBackend(
  registry: BackendRegistry,
  config: BackendConfig,
  o: SelectBackendOptions = {},
): Promise<BackendSelection> {
  const all = registry.list();
  const rejected: Record<string, string[]> = {};
  const candidates = o.name === undefined ? all : all.filter((d) => d.name === o.name);
  if (o.name !== undefined && candidates.length === 0) {
    for (const d of all) rejected[d.name] = backendReasons(d, config);
    const known = all.map((d) => d.name).join(', ') || '(none registered)';
    throw new NoBackendError(
      `Unknown attention backend '${o.name}'. Registered backends: ${known}.\n${formatReasons(rejected)}`,
      rejected,
    );
  }
  for (const d of candidates) {
    const reasons = backendReasons(d, config);
    if (reasons.length > 0) {
      rejected[d.name] = reasons;
      continue;
    }
    try {
      const backend = await d.create(
        o.deviceIndex === undefined ? { config } : { config, deviceIndex: o.deviceIndex },
      );
      return { backend, descriptor: d, rejected };
    } catch (e) {
      rejected[d.name] = [`initialization failed: ${e instanceof Error ? e.message : String(e)}`];
    }
  }
  if (o.name !== undefined) {
    for (const d of all) if (!(d.name in rejected)) rejected[d.name] = backendReasons(d, config);
  }
  const what =
    o.name === undefined ? 'No valid attention backend' : `Attention backend '${o.name}' cannot be used`;
  throw new NoBackendError(
    `${what} for ${describeConfig(config)}. Reasons:\n${
      Object.keys(rejected).length > 0 ? formatReasons(rejected) : '  (no backends registered)'
    }`,
    rejected,
  );
}
