import type { AttentionBackend, FloatDType, HostData, Tensor } from '@dcp/backend';
import type { ModelConfig } from '@dcp/config';
import type { DeepseekV2Model } from '@dcp/model';
import type { Communicator } from '@dcp/parallel-state';
import type { SchedulerOutput } from '@dcp/scheduler';
import type { StepInput, StepOutput } from '../executor/protocol.js';
import type { RankRunner } from '../executor/rank-loop.js';
import { BatchBuilder, type RankLayout } from './batch-builder.js';
import { logitRowsFor, sampleOutputs } from './sample-rows.js';

/** Where one rank sits and what it talks through. */
export interface ModelRunnerOptions<T extends Tensor, B> {
  model: DeepseekV2Model<T, B>;
  backend: AttentionBackend<T, B>;
  config: ModelConfig;
  layout: RankLayout;
  /** Pipeline group (send/recv of hidden states) and this rank's stage. */
  pp: { comm: Communicator<B> | null; rank: number; size: number };
  /** Whether this rank samples and returns the step's outputs (last stage, TP rank 0). */
  isOutputRank: boolean;
  dtype: FloatDType;
  /** Startup facts to report. */
  info: Record<string, unknown>;
}

/**
 * One rank's model runner: turns each step's plain `SchedulerOutput` into its own inputs, runs
 * its stage of the model (receiving and sending hidden states between pipeline stages), and, on
 * the output rank, samples.
 */
export class ModelRunner<T extends Tensor, B> implements RankRunner {
  private readonly builder: BatchBuilder;

  constructor(private readonly o: ModelRunnerOptions<T, B>) {
    this.builder = new BatchBuilder(o.layout);
  }

  info(): Record<string, unknown> {
    return this.o.info;
  }

  async execute(input: StepInput): Promise<StepOutput | null> {
    const { model, backend: b, config, pp } = this.o;
    const batch = this.builder.build(input.schedule as SchedulerOutput);
    const n = batch.tokenIds.length;
    const rows = logitRowsFor(batch, input.sampling);
    let hidden: T | undefined;
    if (pp.rank > 0) {
      const h = b.alloc([n, config.hiddenSize], this.o.dtype);
      hidden = b.fromCommBuffer(
        await pp.comm!.recv(b.commBuffer(h), pp.rank - 1),
        [n, config.hiddenSize],
        this.o.dtype,
      );
    }
    const result = await model.forward({
      ...(pp.rank === 0 ? { tokenIds: batch.tokenIds } : {}),
      ...(hidden ? { hidden } : {}),
      positions: batch.positions,
      queryLens: batch.queryLens,
      computedLens: batch.computedLens,
      blockTables: batch.blockTables,
      slotMapping: batch.slotMapping,
      logitRows: rows,
    });
    if (hidden) b.dispose(hidden);
    if (result.hidden) {
      await pp.comm!.send(b.commBuffer(result.hidden), pp.rank + 1);
      b.dispose(result.hidden);
      return null;
    }
    const logitsT = result.logits!;
    if (!this.o.isOutputRank) {
      b.dispose(logitsT);
      return null;
    }
    const host = toF32(await b.download(logitsT));
    b.dispose(logitsT);
    return sampleOutputs(batch, input.sampling, rows, host, config.vocabSize);
  }
}

function toF32(d: HostData): Float32Array {
  if (d instanceof Float32Array) return d;
  throw new Error('logits must be downloaded as f32');
}
