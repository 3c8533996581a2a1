import { describe, expect, it } from 'vitest';
import { normalizeArgv } from './argv.js';

describe('normalizeArgv', () => {
  it('rewrites vLLM multi-letter short flags, with a separate or attached value', () => {
    expect(normalizeArgv(['-tp', '8'])).toEqual(['--tensor-parallel-size', '8']);
    expect(normalizeArgv(['-tp=8'])).toEqual(['--tensor-parallel-size=8']);
    expect(normalizeArgv(['-pp', '2', '-dcp=4'])).toEqual([
      '--pipeline-parallel-size',
      '2',
      '--decode-context-parallel-size=4',
    ]);
  });

  it('leaves long flags, values and unknown short flags alone, and turns underscores into dashes', () => {
    expect(normalizeArgv(['--tensor-parallel-size', '8', 'model', '-x'])).toEqual([
      '--tensor-parallel-size',
      '8',
      'model',
      '-x',
    ]);
    expect(normalizeArgv(['--max_model_len=4k', '--block_size', '16'])).toEqual([
      '--max-model-len=4k',
      '--block-size',
      '16',
    ]);
  });

  it('stops at -- and does not touch its input', () => {
    const argv = ['-dcp', '2', '--', '-tp', '--a_b'];
    expect(normalizeArgv(argv)).toEqual(['--decode-context-parallel-size', '2', '--', '-tp', '--a_b']);
    expect(argv[0]).toBe('-dcp');
  });
});
