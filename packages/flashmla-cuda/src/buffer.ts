/**
 * Device memory owned by JavaScript objects: `dispose()` frees it at once (stream-ordered, no
 * GPU wait); a FinalizationRegistry frees buffers that were dropped without it.
 */
import type { NativeBuffer, NativeView } from './native.js';

/** A range of device memory: a buffer plus a byte offset into it. */
export interface DeviceView {
  readonly buffer: DeviceBuffer;
  readonly byteOffset: number;
}

/** Owns one device allocation of a rank. */
export class DeviceBuffer {
  /** Size in bytes. */
  readonly bytes: number;
  #native: NativeBuffer | null;
  readonly #registry: FinalizationRegistry<NativeBuffer>;

  /** @internal Made by `CudaRank.alloc`. */
  constructor(native: NativeBuffer, registry: FinalizationRegistry<NativeBuffer>) {
    this.bytes = native.bytes;
    this.#native = native;
    this.#registry = registry;
    registry.register(this, native, this);
  }

  /** Whether `dispose()` has run. */
  get disposed(): boolean {
    return this.#native === null;
  }

  /** A view starting `byteOffset` bytes in. */
  at(byteOffset = 0): DeviceView {
    return { buffer: this, byteOffset };
  }

  /** Frees the memory (stream-ordered on the owning rank). Safe to call twice. */
  dispose(): void {
    if (!this.#native) return;
    this.#registry.unregister(this);
    this.#native.dispose();
    this.#native = null;
  }

  /** @internal The addon's view of `[this, byteOffset]`; throws naming `field` once disposed. */
  native(byteOffset: number, field: string): NativeView {
    if (!this.#native) throw new Error(`${field}: device buffer already disposed`);
    return [this.#native, byteOffset];
  }
}

/** Accepts a buffer (offset 0) or a view. */
export type DeviceRef = DeviceBuffer | DeviceView;

/** @internal Resolves a `DeviceRef` to the addon's `[buffer, offset]`. */
export function toNative(ref: DeviceRef, field: string): NativeView {
  if (ref instanceof DeviceBuffer) return ref.native(0, field);
  if (ref && ref.buffer instanceof DeviceBuffer) return ref.buffer.native(ref.byteOffset, field);
  throw new TypeError(`${field}: expected a DeviceBuffer or a { buffer, byteOffset } view`);
}
