/**
 * The backend descriptor of `flashmla-cuda` for a `@dcp/backend` registry. Selection never picks
 * it while CUDA is unavailable, and says why (`CUDA unavailable: ...`). In this part the dense
 * layer ops are not implemented yet, so even with a GPU it reports that as its reason.
 */
import type { BackendCapabilities, BackendConfig, BackendDescriptor, BackendRegistry } from '@dcp/backend';
import type { AddonLoad } from './native.js';
import { loadAddon } from './native.js';
import { type CudaProbe, probeCuda } from './probe.js';

/** Name under which the backend registers (`--attention-backend flashmla-cuda`). */
export const FLASHMLA_CUDA = 'flashmla-cuda';

/**
 * What the kernels support: bf16 (tuned at latent width 576 = 512 + 64; any width through the
 * generic kernels), any block size, natural-log LSE.
 */
export const flashMlaCudaCapabilities: BackendCapabilities = {
  dtypes: ['bf16'],
  kvCacheDtypes: ['bf16'],
  blockSizes: [{ multipleOf: 1 }],
  latentWidths: 'any',
  returnsDecodeLse: true,
  decodeLseBase: 'e',
  multiTokenDecode: true,
  interleaveSizes: 'any',
  needsGpu: true,
};

/** Ops the model needs that this package does not provide yet (part 3 of the CUDA backend). */
export const MISSING_OPS: readonly string[] = [
  'embedding',
  'rmsNorm',
  'linear',
  'headMatmul',
  'rope',
  'siluMul',
  'add',
  'moeRoute',
  'moeExperts',
  'argmax',
  'attention',
  'mergeAttnStates',
];

/** Options of `flashMlaCudaDescriptor`. */
export interface FlashMlaCudaOptions {
  /** How to load the addon (default: the package's own search). */
  load?: () => AddonLoad;
}

/** The descriptor; it probes CUDA once, on first use. */
export function flashMlaCudaDescriptor(
  o: FlashMlaCudaOptions = {},
): BackendDescriptor & { probe(): CudaProbe } {
  let probed: CudaProbe | null = null;
  const probe = () => {
    probed ??= probeCuda((o.load ?? loadAddon)());
    return probed;
  };
  const reasons = (config: BackendConfig): string[] => {
    const p = probe();
    if (!p.available) return [`CUDA unavailable: ${p.reason}`];
    const out: string[] = [];
    if (config.numHeads > 4096) out.push(`numHeads ${config.numHeads} above the kernels' 4096`);
    out.push(`ops not implemented yet in @dcp/flashmla-cuda: ${MISSING_OPS.join(', ')}`);
    return out;
  };
  return {
    name: FLASHMLA_CUDA,
    priority: 100,
    capabilities: flashMlaCudaCapabilities,
    validateConfiguration: reasons,
    probe,
    create({ config }) {
      const r = reasons(config);
      throw new Error(`${FLASHMLA_CUDA} cannot be created: ${r.join('; ')}`);
    },
  };
}

/** Registers the descriptor; returns whether CUDA is usable and, if not, why. */
export function registerFlashMlaCuda(
  registry: BackendRegistry,
  o: FlashMlaCudaOptions = {},
): { available: boolean; reason: string } {
  const d = flashMlaCudaDescriptor(o);
  registry.register(d);
  const p = d.probe();
  return { available: p.available, reason: p.reason };
}
