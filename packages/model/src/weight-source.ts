import type { ModelConfig } from '@dcp/config';
import { dummyTensor } from './dummy.js';
import { WeightLoadError } from './errors.js';
import type { TensorSpec } from './names.js';
import { type ModelShard, type ShardSlice, shardSlice } from './sharding.js';

/**
 * Where weights come from. `read` returns the f32 values of `slice` of tensor `name` (Hugging
 * Face name, full shape `fullShape`), reading no more of the tensor than it must.
 */
export interface WeightSource {
  /** What it is, for messages (`dummy(seed=0)`, a folder path). */
  readonly description: string;
  read(name: string, fullShape: readonly number[], slice: ShardSlice): Promise<Float32Array> | Float32Array;
}

/** Loading progress, reported after every tensor. */
export interface LoadProgress {
  /** Tensors read so far / to read on this rank. */
  tensorsDone: number;
  tensorsTotal: number;
  /** f32 bytes of those tensors (what this rank holds, before conversion to the backend dtype). */
  bytesDone: number;
  bytesTotal: number;
  /** The tensor just read. */
  tensor: string;
}

/** `--load-format dummy`: deterministic values from `(seed, name, element index)`; see `dummyTensor`. */
export function dummyWeightSource(seed = 0): WeightSource {
  return {
    description: `dummy(seed=${seed})`,
    read: (name, fullShape, slice) => dummyTensor(seed, name, fullShape, slice),
  };
}

/** One tensor a rank needs: its spec and its slice. */
export interface PlannedTensor extends TensorSpec {
  slice: ShardSlice;
}

/** The tensors of `specs` this rank holds, with their slices. */
export function planTensors(
  specs: readonly TensorSpec[],
  shard: ModelShard,
  config: ModelConfig,
): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  for (const spec of specs) {
    const slice = shardSlice(spec.name, spec.shape, shard, config);
    if (slice) out.push({ ...spec, slice });
  }
  return out;
}

/** Reads planned tensors from a source, checking sizes and reporting progress after each. */
export class WeightReader {
  private tensorsDone = 0;
  private bytesDone = 0;
  constructor(
    private readonly source: WeightSource,
    private readonly tensorsTotal: number,
    private readonly bytesTotal: number,
    private readonly onProgress?: (p: LoadProgress) => void,
  ) {}

  /** The f32 values of one planned tensor's slice. */
  async read(t: PlannedTensor): Promise<Float32Array> {
    const data = await this.source.read(t.name, t.shape, t.slice);
    const want = t.slice.shape.reduce((a, b) => a * b, 1);
    if (data.length !== want) {
      throw new WeightLoadError(
        t.name,
        `${this.source.description} gave ${data.length} values, expected ${want}`,
      );
    }
    this.tensorsDone++;
    this.bytesDone += want * 4;
    this.onProgress?.({
      tensorsDone: this.tensorsDone,
      tensorsTotal: this.tensorsTotal,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      tensor: t.name,
    });
    return data;
  }
}
