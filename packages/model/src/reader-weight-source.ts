import { WeightLoadError } from './errors.js';
import type { SliceOptions } from './safetensors/slice.js';
import type { WeightSource } from './weight-source.js';

/** What a weight source needs of a tensor reader (a Node checkpoint, an HTTP one, one in memory). */
export interface TensorLookup {
  has(name: string): boolean;
  info(name: string): { shape: readonly number[] };
  readF32(name: string, opts?: SliceOptions): Promise<Float32Array>;
}

const EXPERT = /^(model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$/;

/**
 * A `WeightSource` over Hugging Face safetensors, wherever they are read from: reads only each
 * tensor's shard slice, converting f32/f16/bf16 to f32. Routed experts are read per expert
 * (`mlp.experts.{e}.gate_proj.weight`) or, when a checkpoint stores them fused
 * (`mlp.experts.gate_up_proj` `[E, 2I, H]`, `mlp.experts.down_proj` `[E, H, I]`), from the
 * fused tensors. Shapes are checked against the config's. `description` names it in messages.
 */
export function tensorReaderWeightSource(reader: TensorLookup, description: string): WeightSource {
  return {
    description,
    async read(name, fullShape, slice) {
      if (reader.has(name)) {
        const { shape } = reader.info(name);
        if (shape.length !== fullShape.length || shape.some((d, i) => d !== fullShape[i])) {
          throw new WeightLoadError(
            name,
            `checkpoint shape [${shape.join(', ')}] does not match the config's [${fullShape.join(', ')}]`,
          );
        }
        return reader.readF32(name, { range: { dim: slice.dim, start: slice.start, end: slice.end } });
      }
      const m = EXPERT.exec(name);
      if (m) {
        const [, prefix, e, which] = m;
        const expert = Number(e);
        const inter = which === 'down_proj' ? fullShape[1]! : fullShape[0]!;
        const fused = which === 'down_proj' ? `${prefix}.down_proj` : `${prefix}.gate_up_proj`;
        if (reader.has(fused)) {
          const rows: [number, number] | null =
            which === 'gate_proj' ? [0, inter] : which === 'up_proj' ? [inter, 2 * inter] : null;
          return reader.readF32(fused, { slice: [[expert, expert + 1], rows] });
        }
      }
      throw new WeightLoadError(name, `missing from the checkpoint in ${description}`);
    },
  };
}
