/**
 * Reusable f32 work buffers, one set per backend instance (kernels ask for a size, get a buffer
 * at least that long; the buffer is reused by the next call that asks for the same slot).
 */
export class Scratch {
  private readonly bufs = new Map<string, Float32Array>();

  /** A buffer of at least `n` floats for `slot` (contents unspecified). */
  get(slot: string, n: number): Float32Array {
    let b = this.bufs.get(slot);
    if (!b || b.length < n) {
      b = new Float32Array(Math.max(n, b ? b.length * 2 : 0, 16));
      this.bufs.set(slot, b);
    }
    return b;
  }

  /** Drops every buffer. */
  clear(): void {
    this.bufs.clear();
  }
}
