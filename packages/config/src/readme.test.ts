import { fileURLToPath } from 'node:url';
import { runReadmeExample } from '@dcp/testkit';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('README example', () => {
  it('runs against the built package and prints the output shown under it', () => {
    const { readme, out } = runReadmeExample(pkgDir);
    const shown = /It prints:\n\n```text\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(shown).toBeDefined();
    expect(out).toBe(shown);
  });
});
