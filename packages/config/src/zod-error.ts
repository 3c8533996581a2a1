import type { z } from 'zod';
import { ConfigError } from './errors.js';

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function show(value: unknown, rawStrings: boolean): string {
  if (value === undefined) return 'nothing';
  if (rawStrings && typeof value === 'string' && value !== '') return value;
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns the first issue of a failed zod parse into a one-line {@link ConfigError} that names the
 * field (or its flag), says what was expected and shows what was given.
 */
export function zodToConfigError(
  error: z.ZodError,
  input: unknown,
  options: {
    /** Prefix of the message, e.g. the file name; empty for engine settings. */
    source: string;
    /** The flag label for a field path, when the value can come from a flag. */
    flag?: (path: string) => string | undefined;
    /** Show given strings without quotes (command-line values are all strings). */
    rawStrings?: boolean;
  },
): ConfigError {
  const issue = error.issues[0];
  const raw = options.rawStrings ?? false;
  const prefix = options.source ? `${options.source}: ` : '';
  const field = issue ? issue.path.map(String).join('.') : '';
  if (issue?.code === 'unrecognized_keys') {
    const where = field ? ` in "${field}"` : '';
    return new ConfigError(`${prefix}unknown setting(s) ${issue.keys.join(', ')}${where}`, { field });
  }
  const flag = options.flag?.(field);
  const what = issue ? issue.message.replace(/^Invalid input: /, '') : 'invalid value';
  const got = show(issue ? valueAt(input, issue.path) : input, raw);
  return new ConfigError(`${prefix}${flag ?? `"${field}"`}: ${what} (got ${got})`, { field, flag });
}
