import { ConfigError } from '@dcp/config';

/** An integer option (`--max-tokens 32`), with a one-line error naming the flag. */
export function intOption(flag: string, v: unknown, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(`${flag} must be an integer >= ${min}, got ${String(v)}`, { field: flag, flag });
  }
  return n;
}

/** A number option (`--temperature 0.7`). */
export function numberOption(flag: string, v: unknown, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    throw new ConfigError(`${flag} must be a number >= ${min}, got ${String(v)}`, { field: flag, flag });
  }
  return n;
}

/** `--prompt-token-ids 1,2,3` → [1, 2, 3]. */
export function tokenIdsOption(flag: string, v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const ids = parts.map(Number);
  if (
    parts.length === 0 ||
    parts.some((p) => p === '') ||
    ids.some((x) => !Number.isSafeInteger(x) || x < 0)
  ) {
    throw new ConfigError(`${flag} must be comma-separated integers >= 0, got ${JSON.stringify(v)}`, {
      field: flag,
      flag,
    });
  }
  return ids;
}
