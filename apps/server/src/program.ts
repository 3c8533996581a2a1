import { isConfigError, normalizeArgv } from '@dcp/config';
import { Command, CommanderError } from 'commander';
import { registerCheckConfig } from './commands/check-config.js';
import { registerEvalPpl } from './commands/eval-ppl.js';
import { registerGenerate } from './commands/generate.js';
import { registerLogits } from './commands/logits.js';
import { registerServe } from './commands/serve.js';
import type { CliIo } from './io.js';

/** Exit code of bad input: a flag, a value or a model the engine cannot use. */
export const EXIT_USAGE = 2;

/**
 * The `dcp` program with every subcommand registered (one file each under `commands/`). Errors
 * throw instead of exiting, so {@link runCli} decides the exit code.
 */
export function createProgram(io: CliIo): Command {
  const program = new Command('dcp')
    .description('dcp: an inference engine for MLA models with decode context parallelism')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
    })
    .showHelpAfterError('(run dcp <command> --help for the flags)');
  registerCheckConfig(program, io);
  registerServe(program, io);
  registerGenerate(program, io);
  registerLogits(program, io);
  registerEvalPpl(program, io);
  return program;
}

function isUsageError(error: unknown): boolean {
  const usageNames = ['TopologyError', 'RequestError', 'ModelNotFoundError', 'NoBackendError'];
  return isConfigError(error) || (error instanceof Error && usageNames.includes(error.name));
}

/**
 * Runs the CLI on `argv` (the arguments after the script) and returns the exit code: 0 on success
 * or help, 2 on bad input (the one-line message on the error stream, no stack trace). Other errors
 * propagate.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(normalizeArgv(argv), { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      // A result that fails its check (eval-ppl against its reference) is not a usage error.
      return error.code === 'dcp.evalMismatch' ? 1 : EXIT_USAGE;
    }
    if (isUsageError(error)) {
      io.err(`error: ${(error as Error).message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
