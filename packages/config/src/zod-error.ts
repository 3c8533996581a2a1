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

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns the first issue of a failed zod parse into a one-line {@link ConfigError} that names the
 * field, says what was expected and shows what was given.
 */
export function zodToConfigError(
  error: z.ZodError,
  input: unknown,
  options: {
    source: string;
    fieldName?: (path: string) => string;
    flag?: (path: string) => string | undefined;
  },
): ConfigError {
  const issue = error.issues[0];
  const path = issue ? issue.path.map(String).join('.') : '';
  const field = options.fieldName ? options.fieldName(path) : path;
  const flag = options.flag?.(path);
  const what = issue ? issue.message.replace(/^Invalid input: /, '') : 'invalid value';
  const got = issue ? show(valueAt(input, issue.path)) : show(input);
  const name = flag ?? `"${field}"`;
  return new ConfigError(`${options.source}: ${name}: ${what} (got ${got})`, { field, flag });
}
