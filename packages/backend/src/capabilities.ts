/**
 * Reasons derived from a backend's declared capabilities (the registry adds them to whatever the
 * backend's own `validateConfiguration` says).
 */
import type { BackendCapabilities, BackendConfig, BlockSizeSpec } from './descriptor.js';

function blockSizeOk(specs: readonly BlockSizeSpec[], blockSize: number): boolean {
  return specs.some((s) => (typeof s === 'number' ? s === blockSize : blockSize % s.multipleOf === 0));
}

function describeBlockSizes(specs: readonly BlockSizeSpec[]): string {
  return specs.map((s) => (typeof s === 'number' ? String(s) : `multiples of ${s.multipleOf}`)).join(', ');
}

/**
 * Every reason `caps` cannot serve `config`, one readable sentence each, naming the field and
 * the values that would work. Empty when the capabilities allow the configuration.
 */
export function capabilityReasons(caps: BackendCapabilities, config: BackendConfig): string[] {
  const reasons: string[] = [];
  if (!caps.dtypes.includes(config.dtype)) {
    reasons.push(`dtype ${config.dtype} not supported (supported: ${caps.dtypes.join(', ')})`);
  }
  if (!caps.kvCacheDtypes.includes(config.kvCacheDtype)) {
    reasons.push(
      `kv cache dtype ${config.kvCacheDtype} not supported (supported: ${caps.kvCacheDtypes.join(', ')})`,
    );
  }
  if (!blockSizeOk(caps.blockSizes, config.blockSize)) {
    reasons.push(
      `block size ${config.blockSize} not supported (supported: ${describeBlockSizes(caps.blockSizes)})`,
    );
  }
  const width = config.kvLoraRank + config.ropeDim;
  if (caps.latentWidths !== 'any' && !caps.latentWidths.includes(width)) {
    reasons.push(
      `MLA latent width ${width} (kv_lora_rank ${config.kvLoraRank} + qk_rope_head_dim ${config.ropeDim}) not supported (supported: ${caps.latentWidths.join(', ')})`,
    );
  }
  if (config.dcp > 1 && !caps.returnsDecodeLse) {
    reasons.push(
      `decode LSE not returned: cannot run with decode-context-parallel-size ${config.dcp} > 1 (use --decode-context-parallel-size 1 or another backend)`,
    );
  }
  if (caps.interleaveSizes !== 'any' && !caps.interleaveSizes.includes(config.interleave)) {
    reasons.push(
      `cp-kv-cache-interleave-size ${config.interleave} not supported (supported: ${caps.interleaveSizes.join(', ')})`,
    );
  }
  if (config.multiTokenDecode && !caps.multiTokenDecode) {
    reasons.push('multi-token decode (several query tokens per request) not supported');
  }
  if (caps.needsGpu && config.gpuAvailable === false) {
    reasons.push('needs a GPU and none is available');
  }
  return reasons;
}
