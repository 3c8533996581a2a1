import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** Bare module specifiers reachable from a source file through its relative imports. */
function externalImports(file: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(file)) return out;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) {
    const spec = match[1] as string;
    if (spec.startsWith('.')) {
      for (const s of externalImports(join(dirname(file), spec.replace(/\.js$/, '.ts')), seen)) out.add(s);
    } else out.add(spec);
  }
  return out;
}

describe('entries', () => {
  it('the main entry is platform-neutral: it imports zod only', () => {
    expect([...externalImports(join(here, 'index.ts'))]).toEqual(['zod']);
  });

  it('the node entry holds the Node-only pieces', () => {
    const node = externalImports(join(here, 'node.ts'));
    expect(node).toContain('commander');
    expect(node).toContain('node:fs/promises');
  });
});
