import { Command, CommanderError, Option } from 'commander';
import { normalizeArgv } from './argv.js';
import type { EngineConfig, EngineConfigInput } from './engine-config.js';
import { ConfigError } from './errors.js';
import { ENGINE_FLAGS, type EngineFlag } from './flags.js';
import type { ModelConfig } from './model-config.js';
import { parseHumanNumber } from './numbers.js';
import { makeEngineConfig } from './schema.js';

function optionsOf(flag: EngineFlag): Option[] {
  if (flag.value === undefined) {
    const on = new Option(flag.long, flag.description);
    if (!flag.negatable) return [on];
    return [on, new Option(`--no-${flag.long.slice(2)}`, `turn ${flag.long} off`)];
  }
  const long = new Option(`${flag.long} <${flag.value}>`, flag.description);
  // Commander cannot spell `-tp`; normalizeArgv rewrites it, and the help shows it here.
  if (flag.short) long.description = `${flag.short}: ${flag.description}`;
  return [long];
}

/**
 * Adds every engine flag (vLLM's spellings, see `ENGINE_FLAGS`) and, unless `modelArgument` is
 * false, the optional positional `[model]` to a commander command, so every subcommand shares
 * them. Parse with `normalizeArgv(argv)` so `-tp 8` / `-tp=8` work, then read the result with
 * {@link engineConfigFromOptions}.
 */
export function addEngineOptions(command: Command, options: { modelArgument?: boolean } = {}): Command {
  if (options.modelArgument ?? true) {
    command.argument('[model]', 'model folder (with config.json) or preset name; same as --model');
  }
  for (const flag of ENGINE_FLAGS) for (const option of optionsOf(flag)) command.addOption(option);
  return command;
}

function attributeOf(flag: EngineFlag): string {
  return new Option(flag.value === undefined ? flag.long : `${flag.long} <v>`).attributeName();
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head, tail] = path.split('.') as [string, string | undefined];
  if (tail === undefined) target[head] = value;
  else target[head] = { ...(target[head] as object | undefined), [tail]: value };
}

/** Extra inputs of {@link engineConfigFromOptions}. */
export interface FromOptionsExtra {
  /** The positional `[model]`, if the command took one. */
  positionalModel?: string | undefined;
  /** A model already known, to check the model-dependent rules. */
  modelConfig?: ModelConfig | null;
  /** Called with each warning (e.g. a deprecated flag that overrides another). */
  onWarning?: (message: string) => void;
}

/**
 * Turns commander's parsed options (`command.opts()`) into a validated {@link EngineConfig}.
 * Handles the positional model versus `--model` (giving both, different, is an error) and the
 * deprecated `--dcp-kv-cache-interleave-size` (when > 1 and different it overrides
 * `--cp-kv-cache-interleave-size`, with a warning, as in vLLM). Throws {@link ConfigError}.
 */
export function engineConfigFromOptions(
  opts: Record<string, unknown>,
  extra: FromOptionsExtra = {},
): EngineConfig {
  const input: Record<string, unknown> = {};
  for (const flag of ENGINE_FLAGS) {
    const value = opts[attributeOf(flag)];
    if (value !== undefined) setPath(input, flag.field, value);
  }
  const parallel = (input.parallel ?? {}) as Record<string, unknown>;
  const legacy = parallel.dcpKvCacheInterleaveSize;
  delete parallel.dcpKvCacheInterleaveSize;
  if (typeof legacy === 'string') {
    const size = parseHumanNumber(legacy);
    const current = parallel.cpKvCacheInterleaveSize;
    if (!(size > 1)) {
      extra.onWarning?.('--dcp-kv-cache-interleave-size is deprecated and ignored unless > 1');
    } else if (current === undefined || parseHumanNumber(String(current)) !== size) {
      extra.onWarning?.(
        `--dcp-kv-cache-interleave-size is deprecated: it sets --cp-kv-cache-interleave-size to ${legacy}`,
      );
      parallel.cpKvCacheInterleaveSize = legacy;
    }
  }
  const positional = extra.positionalModel;
  if (positional !== undefined) {
    if (input.model !== undefined && input.model !== positional) {
      throw new ConfigError(
        `model given twice: positional ${positional} and --model ${String(input.model)}`,
        {
          field: 'model',
          flag: '--model',
        },
      );
    }
    input.model = positional;
  }
  return makeEngineConfig(input as EngineConfigInput, { modelConfig: extra.modelConfig ?? null });
}

/**
 * Parses a command line of engine flags (without `node` and the script: `['-tp', '8', 'my-model']`)
 * into a validated {@link EngineConfig}. vLLM's short flags (`-tp 8`, `-tp=8`, `-pp`, `-dcp`) are
 * normalised first. An unknown flag or a missing value is a {@link ConfigError} too.
 */
export function parseCliArgs(
  argv: readonly string[],
  extra: Omit<FromOptionsExtra, 'positionalModel'> = {},
): EngineConfig {
  const command = new Command('dcp')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false);
  addEngineOptions(command);
  try {
    command.parse(normalizeArgv(argv), { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      throw new ConfigError(error.message.replace(/^error: /, ''), { field: 'argv' });
    }
    throw error;
  }
  return engineConfigFromOptions(command.opts(), { ...extra, positionalModel: command.args[0] });
}
