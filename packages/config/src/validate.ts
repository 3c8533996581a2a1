import { type EngineConfig, worldSize } from './engine-config.js';
import { ConfigError } from './errors.js';
import { flagForField } from './flags.js';
import type { ModelConfig } from './model-config.js';

function fail(field: string, message: string): never {
  throw new ConfigError(message, { field, flag: flagForField(field) });
}

const TP = flagForField('parallel.tp');
const PP = flagForField('parallel.pp');
const DCP = flagForField('parallel.dcp');

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

function checkParallel(config: EngineConfig): void {
  const { tp, dcp, cpKvCacheInterleaveSize: interleave, dcpCommBackend } = config.parallel;
  if (tp % dcp !== 0) {
    const why =
      dcp > tp
        ? `DCP reuses the TP ranks and never adds any: world size = pp × tp = ${worldSize(config.parallel)}`
        : `each TP group splits into tp/dcp DCP groups; dcp can be ${divisors(tp).join(', ')}`;
    fail('parallel.dcp', `${TP} ${tp} is not divisible by ${DCP} ${dcp} (${why})`);
  }
  if (dcpCommBackend === 'a2a' && dcp <= 1) {
    fail(
      'parallel.dcpCommBackend',
      `--dcp-comm-backend a2a requires ${DCP} > 1 (got ${dcp}); use ag_rs or raise dcp`,
    );
  }
  const blockSize = config.cache.blockSize;
  if (interleave > blockSize || blockSize % interleave !== 0) {
    fail(
      'parallel.cpKvCacheInterleaveSize',
      `--cp-kv-cache-interleave-size ${interleave} must divide --block-size ${blockSize} and be at most it`,
    );
  }
}

function checkScheduler(config: EngineConfig, maxModelLen: number | null): void {
  const { maxNumBatchedTokens, maxNumSeqs, enableChunkedPrefill } = config.scheduler;
  if (maxNumBatchedTokens < maxNumSeqs) {
    fail(
      'scheduler.maxNumBatchedTokens',
      `--max-num-batched-tokens ${maxNumBatchedTokens} must be at least --max-num-seqs ${maxNumSeqs}`,
    );
  }
  if (!enableChunkedPrefill && maxModelLen !== null && maxNumBatchedTokens < maxModelLen) {
    fail(
      'scheduler.maxNumBatchedTokens',
      `--max-num-batched-tokens ${maxNumBatchedTokens} is below --max-model-len ${maxModelLen} with ` +
        '--no-enable-chunked-prefill (a prompt must fit one step): raise it, lower the length or enable chunked prefill',
    );
  }
}

function checkModel(config: EngineConfig, model: ModelConfig): void {
  const { tp, pp } = config.parallel;
  const { maxModelLen } = config.scheduler;
  if (maxModelLen !== null && maxModelLen > model.maxPositionEmbeddings) {
    fail(
      'scheduler.maxModelLen',
      `--max-model-len ${maxModelLen} exceeds the model's max_position_embeddings ${model.maxPositionEmbeddings}`,
    );
  }
  if (pp > model.numHiddenLayers) {
    fail(
      'parallel.pp',
      `${PP} ${pp} leaves a pipeline stage without layers: the model has ${model.numHiddenLayers} layers`,
    );
  }
  if (model.numAttentionHeads % tp !== 0) {
    fail(
      'parallel.tp',
      `${TP} ${tp} does not divide the model's ${model.numAttentionHeads} attention heads (num_attention_heads)`,
    );
  }
}

/**
 * Checks the rules that tie settings together (each field's own range is checked by
 * `makeEngineConfig`): `tp % dcp == 0` (world size is `pp × tp`; DCP never adds ranks),
 * `--dcp-comm-backend a2a` needs `dcp > 1`, the interleave size divides the block size, the token
 * budget holds `--max-num-seqs` (and a whole prompt without chunked prefill); with a model also
 * `--max-model-len <= max_position_embeddings`, no empty pipeline stage and `tp` dividing the heads.
 * Throws a one-line {@link ConfigError} naming the flags.
 */
export function validateEngineConfig(config: EngineConfig, model: ModelConfig | null = null): void {
  checkParallel(config);
  if (config.attentionBackendConfig && config.attentionBackend === null) {
    fail(
      'attentionBackendConfig',
      '--attention-backend-config holds the options of one backend: name it with --attention-backend',
    );
  }
  if (config.webgpuDevices && config.attentionBackend !== 'webgpu-mla') {
    fail(
      'webgpuDevices',
      `--webgpu-devices chooses the GPUs of webgpu-mla ranks: it needs --attention-backend webgpu-mla (got ${config.attentionBackend ?? 'none'})`,
    );
  }
  if (model) checkModel(config, model);
  checkScheduler(config, config.scheduler.maxModelLen ?? model?.maxPositionEmbeddings ?? null);
}
