import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';

/** Every module specifier imported by a built file and, recursively, by the chunks it imports. */
function importsOf(url: URL, seen = new Set<string>()): string[] {
  if (seen.has(url.href)) return [];
  seen.add(url.href);
  const text = readFileSync(url, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
  return specs.flatMap((s) => (s.startsWith('.') ? [s, ...importsOf(new URL(s, url), seen)] : [s]));
}

describe('package entries', () => {
  it('the main entry (and its chunks) imports no Node built-in', () => {
    const specs = importsOf(new URL('../dist/index.js', import.meta.url));
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(specs.filter((s) => builtins.has(s) || s.startsWith('node:'))).toEqual([]);
    // The check itself sees imports: the test worker does import worker_threads.
    const worker = importsOf(new URL('../dist/test-worker.js', import.meta.url));
    expect(worker.some((s) => builtins.has(s))).toBe(true);
  });
});
