/**
 * Adapter detection: what the adapter offers (features that matter to the kernels, limits) and
 * the device the backend asks for.
 */

/** What the backend reads from an adapter. */
export interface WebGpuAdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** A software implementation (lavapipe, SwiftShader, WARP): correct, about 1 GFLOP/s. */
  software: boolean;
  features: {
    /** `shader-f16`: f16 outputs are then written as `array<f16>` (reads stay packed in u32). */
    shaderF16: boolean;
    subgroups: boolean;
    timestampQuery: boolean;
  };
  /** Lanes per subgroup, smallest and largest (0 where the adapter does not say). */
  subgroupSizes: { min: number; max: number };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
  };
}

/** Reads an adapter's identity, features and limits. */
export function describeAdapter(adapter: GPUAdapter): WebGpuAdapterSummary {
  const info = (adapter.info ?? {}) as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const fallback =
    info.isFallbackAdapter === true ||
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const architecture = info.architecture ?? '';
  const description = info.description ?? '';
  const l = adapter.limits;
  return {
    vendor: info.vendor ?? '',
    architecture,
    description,
    software:
      fallback ||
      /^(software|swiftshader)$/i.test(architecture) ||
      /llvmpipe|lavapipe|swiftshader|microsoft basic render/i.test(description),
    features: {
      shaderF16: adapter.features.has('shader-f16'),
      subgroups: adapter.features.has('subgroups'),
      timestampQuery: adapter.features.has('timestamp-query'),
    },
    subgroupSizes: { min: info.subgroupMinSize ?? 0, max: info.subgroupMaxSize ?? 0 },
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  };
}

/**
 * Requests a device with the adapter's largest buffers, bindings (size and count: a KV cache
 * split over several buffers binds them all) and workgroup memory, with `subgroups` and
 * `shader-f16` where the adapter has them.
 */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  if (l.maxComputeInvocationsPerWorkgroup < 256) {
    throw new Error(
      `adapter allows ${l.maxComputeInvocationsPerWorkgroup} invocations per workgroup; the kernels need 256`,
    );
  }
  const features = (['subgroups', 'shader-f16'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  return adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
}
