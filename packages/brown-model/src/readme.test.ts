import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('README example', () => {
  it('runs against the built package and prints the output shown under it', () => {
    const readme = readFileSync(`${pkgDir}/README.md`, 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    const shown = /It prints:\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    expect(shown).toBeDefined();
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code as string], {
      cwd: pkgDir,
      encoding: 'utf8',
    });
    expect(out).toBe(shown);
  });
});
