/**
 * Is CUDA usable here? `probeCuda` answers without throwing, with the reason when it is not.
 */
import { type AddonLoad, loadAddon, type NativeProbe } from './native.js';

/** CUDA runtime codes that mean "no usable GPU here" rather than a bug. */
export const CUDA_UNAVAILABLE_CODES: readonly number[] = [
  35, // cudaErrorInsufficientDriver: no driver, or one older than the runtime
  100, // cudaErrorNoDevice
  999, // cudaErrorUnknown: driver present but the device is unusable (e.g. in a sandbox)
  3, // cudaErrorInitializationError
  34, // cudaErrorStubLibrary
];

/** The outcome of a probe. */
export interface CudaProbe extends NativeProbe {
  /** Path of the loaded addon, or null when it could not be loaded. */
  addonPath: string | null;
}

/** Thrown when CUDA is needed but unavailable; `reason` says why. */
export class CudaUnavailableError extends Error {
  readonly reason: string;
  readonly code: number;
  constructor(reason: string, code: number) {
    super(`CUDA unavailable: ${reason}`);
    this.name = 'CudaUnavailableError';
    this.reason = reason;
    this.code = code;
  }
}

/** Probes the addon and the CUDA runtime (`load` lets tests and callers supply their own). */
export function probeCuda(load: AddonLoad = loadAddon()): CudaProbe {
  if (!load.ok) {
    return {
      available: false,
      code: -1,
      reason: load.reason,
      deviceCount: 0,
      driverVersion: 0,
      runtimeVersion: 0,
      devices: [],
      addonPath: null,
    };
  }
  const p = load.addon.probe();
  const known = CUDA_UNAVAILABLE_CODES.includes(p.code) ? '' : ' (unexpected CUDA error)';
  return { ...p, reason: p.available ? '' : `${p.reason}${known}`, addonPath: load.path };
}
