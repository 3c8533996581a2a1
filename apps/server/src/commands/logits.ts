import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError } from '@dcp/config';
import { addEngineOptions, engineConfigFromOptions } from '@dcp/config/node';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { startEngine } from './engine-start.js';

/** Reads `{"prompt_token_ids": [...]}` lines; errors name the line and the field. */
async function readPrompts(path: string, vocab: number): Promise<{ ids: number[]; line: number }[]> {
  const prompts: { ids: number[]; line: number }[] = [];
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      if (line.trim() === '') continue;
      let j: unknown;
      try {
        j = JSON.parse(line);
      } catch {
        throw new ConfigError(`--input ${path}:${n}: not valid JSON`, { field: 'input', flag: '--input' });
      }
      const ids = (j as { prompt_token_ids?: unknown })?.prompt_token_ids;
      if (
        !Array.isArray(ids) ||
        ids.length === 0 ||
        ids.some((x) => !Number.isInteger(x) || x < 0 || x >= vocab)
      ) {
        throw new ConfigError(
          `--input ${path}:${n}: prompt_token_ids must be a non-empty array of integers in [0, ${vocab})`,
          { field: 'prompt_token_ids', flag: '--input' },
        );
      }
      prompts.push({ ids: ids as number[], line: n });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`--input ${path}: no such file`, { field: 'input', flag: '--input' });
    }
    throw e;
  }
  return prompts;
}

/**
 * `dcp logits`: teacher-forced logits. Every input line `{"prompt_token_ids": [...]}` gives one
 * output line `{"logits": [[...], ...]}` (one vocabulary row per position), in input order, however
 * the requests were batched.
 */
export function registerLogits(program: Command, io: CliIo): Command {
  const command = program
    .command('logits')
    .description('teacher-forced logits of every position of every prompt (JSONL in, JSONL out)')
    .requiredOption('--input <path>', 'JSONL file of {"prompt_token_ids": [...]}')
    .requiredOption('--output <path>', 'JSONL file to write {"logits": [[...]]} lines to');
  addEngineOptions(command).action(async (positional: string | undefined, opts: Record<string, unknown>) => {
    const config = engineConfigFromOptions(opts, {
      positionalModel: positional,
      onWarning: (w) => io.err(`warning: ${w}`),
    });
    const created = await startEngine(config, io);
    try {
      const prompts = await readPrompts(opts.input as string, created.modelConfig.vocabSize);
      for (const { ids: p, line } of prompts) {
        if (p.length >= created.maxModelLen) {
          throw new ConfigError(
            `--input line ${line}: ${p.length} tokens exceed --max-model-len ${created.maxModelLen}`,
            {
              field: 'prompt_token_ids',
              flag: '--input',
            },
          );
        }
      }
      const rows = await Promise.all(
        prompts.map(async ({ ids: p }, i) => {
          const out: Float32Array[] = [];
          for await (const d of created.llm.generate({
            requestId: `logits-${i}`,
            promptTokenIds: p,
            params: { maxTokens: 1, temperature: 0 },
            returnPromptLogits: true,
          })) {
            if (d.finishReason === 'error') throw new Error(`prompt ${i + 1} failed: ${d.error}`);
            if (d.promptLogits) out.push(...d.promptLogits);
          }
          return out;
        }),
      );
      const w = createWriteStream(opts.output as string);
      for (const r of rows) {
        if (!w.write(`${JSON.stringify({ logits: r.map((row) => Array.from(row)) })}\n`))
          await once(w, 'drain');
      }
      w.end();
      await once(w, 'finish');
      io.err(`wrote ${rows.length} lines to ${opts.output as string}`);
    } finally {
      await created.llm.shutdown();
    }
  });
  return command;
}
