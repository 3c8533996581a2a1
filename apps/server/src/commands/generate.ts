import { ConfigError } from '@dcp/config';
import { addEngineOptions, engineConfigFromOptions } from '@dcp/config/node';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { intOption, numberOption, tokenIdsOption } from './cli-values.js';
import { startEngine } from './engine-start.js';

/** `dcp generate`: one completion from a prompt, printed as text or as one JSON line. */
export function registerGenerate(program: Command, io: CliIo): Command {
  const command = program
    .command('generate')
    .description('generate a completion for one prompt (text, or token ids) and print it')
    .option('--prompt <text>', 'the prompt text')
    .option('--prompt-token-ids <ids>', 'the prompt as comma-separated token ids')
    .option('--max-tokens <n>', 'tokens to generate (default 16)')
    .option('--temperature <t>', 'sampling temperature; 0 is greedy (default 1, as vLLM)')
    .option('--top-p <p>', 'nucleus sampling mass (default 1)')
    .option('--top-k <k>', 'keep the k most likely tokens (default off)')
    .option('--ignore-eos', 'keep generating past the end-of-sequence token')
    .option('--json', 'print {"token_ids": [...], "text": ...} on one line');
  addEngineOptions(command).action(async (positional: string | undefined, opts: Record<string, unknown>) => {
    const config = engineConfigFromOptions(opts, {
      positionalModel: positional,
      onWarning: (w) => io.err(`warning: ${w}`),
    });
    const hasText = typeof opts.prompt === 'string';
    const hasIds = typeof opts.promptTokenIds === 'string';
    if (hasText === hasIds) {
      throw new ConfigError('give exactly one of --prompt or --prompt-token-ids', {
        field: 'prompt',
        flag: '--prompt',
      });
    }
    const maxTokens = intOption('--max-tokens', opts.maxTokens, 1) ?? 16;
    const temperature = numberOption('--temperature', opts.temperature, 0) ?? 1;
    const topP = numberOption('--top-p', opts.topP, 0);
    const topK = intOption('--top-k', opts.topK, -1);
    // vLLM's --seed seeds everything: the dummy weights and, here, the sampling.
    const seed = config.load.seed;
    const givenIds = hasIds ? tokenIdsOption('--prompt-token-ids', opts.promptTokenIds as string) : null;
    const created = await startEngine(config, io, Boolean(opts.json));
    try {
      let ids: number[];
      if (givenIds) ids = givenIds;
      else if (created.tokenizer) ids = created.tokenizer.encode(opts.prompt as string);
      else {
        throw new ConfigError('--prompt needs a tokenizer: this model has none; use --prompt-token-ids', {
          field: 'prompt',
          flag: '--prompt',
        });
      }
      const tokens: number[] = [];
      let text = '';
      let error: string | undefined;
      for await (const d of created.llm.generate({
        requestId: 'generate',
        promptTokenIds: ids,
        params: {
          maxTokens,
          temperature,
          ...(topP !== undefined ? { topP } : {}),
          ...(topK !== undefined ? { topK } : {}),
          seed,
          ignoreEos: Boolean(opts.ignoreEos),
        },
      })) {
        tokens.push(...d.newTokenIds);
        text += d.newText;
        if (d.finishReason === 'error') error = d.error;
      }
      if (error) throw new Error(`generation failed: ${error}`);
      io.out(opts.json ? JSON.stringify({ token_ids: tokens, text: created.tokenizer ? text : null }) : text);
    } finally {
      await created.llm.shutdown();
    }
  });
  return command;
}
