import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import type { ModelConfig } from './model-config.js';
import { makeEngineConfig } from './schema.js';

type Input = Parameters<typeof makeEngineConfig>[0];

function errorOf(input: Input, modelConfig: ModelConfig | null = null): ConfigError {
  try {
    makeEngineConfig(input, { modelConfig });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** A small model: 4 layers, 16 heads, 4096 positions (only the fields the rules read matter). */
const model = {
  numHiddenLayers: 4,
  numAttentionHeads: 16,
  maxPositionEmbeddings: 4096,
} as ModelConfig;

describe('validateEngineConfig through makeEngineConfig', () => {
  it('accepts the layouts of the DCP PR (world size = pp × tp)', () => {
    for (const [tp, pp, dcp] of [
      [8, 1, 8],
      [8, 1, 4],
      [4, 2, 4],
      [8, 1, 2],
      [6, 1, 3],
      [1, 1, 1],
    ] as const) {
      expect(makeEngineConfig({ parallel: { tp, pp, dcp } }).parallel).toMatchObject({ tp, pp, dcp });
    }
  });

  it('tp % dcp != 0 names both flags and the possible dcp values', () => {
    const e = errorOf({ parallel: { tp: 6, dcp: 4 } });
    expect(e.message).toBe(
      '-tp/--tensor-parallel-size 6 is not divisible by -dcp/--decode-context-parallel-size 4 ' +
        '(each TP group splits into tp/dcp DCP groups; dcp can be 1, 2, 3, 6)',
    );
    expect(e.field).toBe('parallel.dcp');
    expect(e.flag).toBe('-dcp/--decode-context-parallel-size');
  });

  it('dcp larger than tp says DCP never adds ranks (world size = pp × tp)', () => {
    const e = errorOf({ parallel: { tp: 2, pp: 3, dcp: 4 } });
    expect(e.message).toMatch(
      /^-tp\/--tensor-parallel-size 2 is not divisible by -dcp\/--decode-context-parallel-size 4/,
    );
    expect(e.message).toContain('world size = pp × tp = 6');
  });

  it('dcp < 1 or not an integer is refused (vLLM crashed on -dcp 0)', () => {
    for (const dcp of [0, -2, 1.5, '0', 'two']) {
      const e = errorOf({ parallel: { dcp } });
      expect(e.message).toMatch(/^-dcp\/--decode-context-parallel-size: must be an integer >= 1 \(got /);
      expect(e.field).toBe('parallel.dcp');
    }
  });

  it('the interleave size must divide the block size and be at most it', () => {
    for (const [interleave, blockSize] of [
      [3, 16],
      [32, 16],
      [24, 64],
    ]) {
      const e = errorOf({ parallel: { cpKvCacheInterleaveSize: interleave }, cache: { blockSize } });
      expect(e.message).toBe(
        `--cp-kv-cache-interleave-size ${interleave} must divide --block-size ${blockSize} and be at most it`,
      );
      expect(e.flag).toBe('--cp-kv-cache-interleave-size');
    }
    for (const [interleave, blockSize] of [
      [1, 16],
      [16, 16],
      [8, 64],
    ]) {
      const c = makeEngineConfig({ parallel: { cpKvCacheInterleaveSize: interleave }, cache: { blockSize } });
      expect(c.parallel.cpKvCacheInterleaveSize).toBe(interleave);
    }
  });

  it('a2a needs dcp > 1; ag_rs with dcp 1 and a2a with tp 4 dcp 4 are fine (vLLM config tests)', () => {
    const e = errorOf({ parallel: { dcpCommBackend: 'a2a', dcp: 1 } });
    expect(e.message).toMatch(
      /^--dcp-comm-backend a2a requires -dcp\/--decode-context-parallel-size > 1 \(got 1\)/,
    );
    expect(e.field).toBe('parallel.dcpCommBackend');
    expect(
      makeEngineConfig({ parallel: { dcpCommBackend: 'a2a', tp: 4, dcp: 4 } }).parallel.dcpCommBackend,
    ).toBe('a2a');
    expect(makeEngineConfig({ parallel: { dcpCommBackend: 'ag_rs', dcp: 1 } }).parallel.dcpCommBackend).toBe(
      'ag_rs',
    );
    expect(errorOf({ parallel: { dcpCommBackend: 'invalid' } }).message).toMatch(/must be one of ag_rs, a2a/);
  });

  it('--max-model-len over max_position_embeddings is refused when the model is known', () => {
    const e = errorOf({ scheduler: { maxModelLen: 8192 } }, model);
    expect(e.message).toBe("--max-model-len 8192 exceeds the model's max_position_embeddings 4096");
    expect(e.field).toBe('scheduler.maxModelLen');
    expect(makeEngineConfig({ scheduler: { maxModelLen: 8192 } }).scheduler.maxModelLen).toBe(8192);
    expect(
      makeEngineConfig({ scheduler: { maxModelLen: 4096 } }, { modelConfig: model }).scheduler.maxModelLen,
    ).toBe(4096);
  });

  it('a pipeline stage without layers is refused', () => {
    const e = errorOf({ parallel: { pp: 5 } }, model);
    expect(e.message).toBe(
      '-pp/--pipeline-parallel-size 5 leaves a pipeline stage without layers: the model has 4 layers',
    );
    expect(e.field).toBe('parallel.pp');
    expect(makeEngineConfig({ parallel: { pp: 4 } }, { modelConfig: model }).parallel.pp).toBe(4);
  });

  it('tp must divide the model heads', () => {
    const e = errorOf({ parallel: { tp: 3 } }, model);
    expect(e.message).toBe(
      "-tp/--tensor-parallel-size 3 does not divide the model's 16 attention heads (num_attention_heads)",
    );
  });

  it('the token budget covers --max-num-seqs, and a whole prompt without chunked prefill', () => {
    expect(errorOf({ scheduler: { maxNumBatchedTokens: 128, maxNumSeqs: 256 } }).message).toBe(
      '--max-num-batched-tokens 128 must be at least --max-num-seqs 256',
    );
    const e = errorOf({ scheduler: { maxNumBatchedTokens: 2048, enableChunkedPrefill: false } }, model);
    expect(e.message).toMatch(
      /^--max-num-batched-tokens 2048 is below --max-model-len 4096 with --no-enable-chunked-prefill/,
    );
    const ok = makeEngineConfig({ scheduler: { maxNumBatchedTokens: 2048, enableChunkedPrefill: false } });
    expect(ok.scheduler.enableChunkedPrefill).toBe(false);
  });
});
