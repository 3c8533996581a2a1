import { ENGINE_FLAGS } from './flags.js';

const SHORT_TO_LONG: ReadonlyMap<string, string> = new Map(
  ENGINE_FLAGS.filter((f) => f.short !== undefined).map((f) => [f.short as string, f.long]),
);

/**
 * Rewrites a command line so commander can parse it: vLLM's multi-letter short flags (`-tp 8`,
 * `-tp=8`, `-pp`, `-dcp`) become their long forms, and underscores in long flag names become dashes
 * (`--max_model_len` → `--max-model-len`, as vLLM accepts). Arguments after `--` are left alone.
 * Pure: returns a new array.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough || arg === '--') {
      passthrough = true;
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const rest = eq === -1 ? '' : arg.slice(eq);
    const long = SHORT_TO_LONG.get(name);
    if (long !== undefined) out.push(long + rest);
    else if (name.startsWith('--')) out.push(`--${name.slice(2).replaceAll('_', '-')}${rest}`);
    else out.push(arg);
  }
  return out;
}
