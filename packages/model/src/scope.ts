import type { AttentionBackend, DType, HostData, Tensor } from '@dcp/backend';

/**
 * Tracks the temporaries of one forward step so they can all be released at its end. Only
 * tensors it created (or adopted) are disposed, each once; views are never disposed.
 */
export class Scope<T extends Tensor, B> {
  private readonly owned = new Set<T>();
  constructor(readonly backend: AttentionBackend<T, B>) {}

  alloc(shape: readonly number[], dtype: DType): T {
    return this.adopt(this.backend.alloc(shape, dtype));
  }

  upload(data: HostData, shape: readonly number[], dtype: DType): T {
    return this.adopt(this.backend.upload(data, shape, dtype));
  }

  /** Takes ownership of a tensor (a collective's result, an op's fresh output). */
  adopt(t: T): T {
    this.owned.add(t);
    return t;
  }

  /** Removes `t` from the scope (the caller keeps it alive). */
  release(t: T): T {
    this.owned.delete(t);
    return t;
  }

  dispose(): void {
    for (const t of this.owned) this.backend.dispose(t);
    this.owned.clear();
  }
}
