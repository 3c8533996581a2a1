/**
 * Test helper: the adapter, or a printed reason to skip — unless DCP_REQUIRE_SYSTEM_TOOLS=1,
 * where a missing adapter fails the run.
 */
import type { WebGpuAdapterSummary } from './caps.js';

export async function adapterOrSkip(d: {
  probe(): Promise<WebGpuAdapterSummary>;
}): Promise<WebGpuAdapterSummary | null> {
  try {
    return await d.probe();
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (process.env.DCP_REQUIRE_SYSTEM_TOOLS === '1') {
      throw new Error(`DCP_REQUIRE_SYSTEM_TOOLS=1 but WebGPU is unavailable: ${reason}`);
    }
    console.warn(`[webgpu-mla] skipping WebGPU tests: ${reason}`);
    return null;
  }
}
