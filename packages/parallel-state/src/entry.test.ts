import { builtinModules } from 'node:module';
import { importsOf } from '@dcp/testkit';
import { describe, expect, it } from 'vitest';

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
