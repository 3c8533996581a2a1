import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { normalizeArgv } from './argv.js';
import { addEngineOptions, engineConfigFromOptions, parseCliArgs } from './cli-options.js';
import { ConfigError } from './errors.js';

describe('parseCliArgs', () => {
  it('reads -tp 8, -tp=8 and --tensor-parallel-size 8 alike', () => {
    for (const argv of [
      ['-tp', '8', '-dcp', '4'],
      ['-tp=8', '-dcp=4'],
      ['--tensor-parallel-size', '8', '--decode-context-parallel-size', '4'],
      ['--tensor-parallel-size=8', '--decode_context_parallel_size', '4'],
    ]) {
      expect(parseCliArgs(argv).parallel).toMatchObject({ tp: 8, dcp: 4, pp: 1 });
    }
  });

  it('reads every engine flag', () => {
    const c = parseCliArgs([
      'some/model',
      '-pp',
      '2',
      '-tp',
      '4',
      '-dcp',
      '2',
      '--cp-kv-cache-interleave-size',
      '8',
      '--dcp-comm-backend',
      'a2a',
      '--block-size',
      '64',
      '--kv-cache-dtype',
      'float32',
      '--kv-cache-memory-bytes',
      '2G',
      '--num-gpu-blocks-override',
      '100',
      '--gpu-memory-utilization',
      '0.5',
      '--no-enable-prefix-caching',
      '--max-num-batched-tokens',
      '4096',
      '--max-num-seqs',
      '8',
      '--max-model-len',
      '4k',
      '--no-enable-chunked-prefill',
      '--load-format',
      'dummy',
      '--dtype',
      'bfloat16',
      '--seed',
      '7',
      '--attention-backend',
      'cpu-mla',
      '--skip-tokenizer-init',
    ]);
    const gpus = parseCliArgs([
      '--attention-backend',
      'webgpu-mla',
      '--webgpu-devices',
      '0000:06:00.0,0000:07:00.0',
      '--attention-backend-config',
      '{"decodeKernel":"tiled"}',
    ]);
    expect(c).toEqual({
      model: 'some/model',
      parallel: { tp: 4, pp: 2, dcp: 2, cpKvCacheInterleaveSize: 8, dcpCommBackend: 'a2a' },
      cache: {
        blockSize: 64,
        kvCacheDtype: 'fp32',
        kvCacheMemoryBytes: 2 * 2 ** 30,
        numGpuBlocksOverride: 100,
        gpuMemoryUtilization: 0.5,
        enablePrefixCaching: false,
      },
      scheduler: { maxNumBatchedTokens: 4096, maxNumSeqs: 8, maxModelLen: 4000, enableChunkedPrefill: false },
      load: { loadFormat: 'dummy', dtype: 'bfloat16', seed: 7 },
      attentionBackend: 'cpu-mla',
      attentionBackendConfig: null,
      webgpuDevices: null,
      skipTokenizerInit: true,
    });
    expect(gpus.webgpuDevices).toEqual(['0000:06:00.0', '0000:07:00.0']);
    expect(gpus.attentionBackendConfig).toEqual({ decodeKernel: 'tiled' });
    expect(
      parseCliArgs(['--enable-prefix-caching', '--enable-chunked-prefill']).cache.enablePrefixCaching,
    ).toBe(true);
  });

  it('takes the model positionally or with --model, not two different ones', () => {
    expect(parseCliArgs(['--model', 'a']).model).toBe('a');
    expect(parseCliArgs(['a', '--model', 'a']).model).toBe('a');
    expect(() => parseCliArgs(['a', '--model', 'b'])).toThrow(
      /model given twice: positional a and --model b/,
    );
  });

  it('applies the deprecated --dcp-kv-cache-interleave-size with a warning', () => {
    const warnings: string[] = [];
    const c = parseCliArgs(['-tp', '4', '-dcp', '4', '--dcp-kv-cache-interleave-size', '16'], {
      onWarning: (w) => warnings.push(w),
    });
    expect(c.parallel.cpKvCacheInterleaveSize).toBe(16);
    expect(warnings).toEqual([
      '--dcp-kv-cache-interleave-size is deprecated: it sets --cp-kv-cache-interleave-size to 16',
    ]);
    const same = parseCliArgs(['--cp-kv-cache-interleave-size', '4', '--dcp-kv-cache-interleave-size', '1']);
    expect(same.parallel.cpKvCacheInterleaveSize).toBe(4);
  });

  it('turns unknown flags, missing values and extra arguments into ConfigError', () => {
    expect(() => parseCliArgs(['--tensor-parallel'])).toThrow(ConfigError);
    expect(() => parseCliArgs(['--nope'])).toThrow(/unknown option '--nope'/);
    expect(() => parseCliArgs(['-dcp'])).toThrow(/--decode-context-parallel-size <size>' argument missing/);
    expect(() => parseCliArgs(['a', 'b'])).toThrow(ConfigError);
    expect(() => parseCliArgs(['-tp', '6', '-dcp', '4'])).toThrow(
      /^-tp\/--tensor-parallel-size 6 is not divisible by -dcp\/--decode-context-parallel-size 4/,
    );
  });
});

describe('addEngineOptions', () => {
  it('lets a subcommand share the engine flags', () => {
    let seen: unknown;
    const program = new Command('dcp').exitOverride();
    const sub = program.command('sub').option('--extra <n>');
    addEngineOptions(sub).action((model: string | undefined, opts: Record<string, unknown>) => {
      seen = { config: engineConfigFromOptions(opts, { positionalModel: model }), extra: opts.extra };
    });
    program.parse(normalizeArgv(['sub', 'm', '-tp=2', '--extra', '3']), { from: 'user' });
    expect(seen).toMatchObject({ config: { model: 'm', parallel: { tp: 2 } }, extra: '3' });
    expect(sub.helpInformation()).toContain('-tp: tensor-parallel ranks');
  });
});
