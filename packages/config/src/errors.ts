/**
 * The one error class of `@dcp/config`: a setting, a flag or a field of a model's `config.json`
 * has a value dcp cannot use. The message is one line that names the flag or field and the fix.
 */
export class ConfigError extends Error {
  /** The offending config field, e.g. `parallel.decodeContextParallelSize` or `q_lora_rank`. */
  readonly field: string;
  /** The CLI flag(s) that set it, e.g. `-dcp/--decode-context-parallel-size`, when there is one. */
  readonly flag: string | undefined;

  constructor(message: string, options: { field: string; flag?: string | undefined }) {
    super(message);
    this.name = 'ConfigError';
    this.field = options.field;
    this.flag = options.flag;
  }
}

/** True for a {@link ConfigError}, also across copies of this package (checks the name). */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError || (error instanceof Error && error.name === 'ConfigError');
}
