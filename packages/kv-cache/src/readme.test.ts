import { fileURLToPath } from 'node:url';
import { runReadmeExample } from '@dcp/testkit';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('README example', () => {
  it('runs against the built package and prints what its comments say', () => {
    const { readme, out } = runReadmeExample(pkgDir);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('8 56');
    expect(lines[1]).toBe('[ 1, 2 ]');
    // Each printed rank line appears as a comment in the README.
    for (const line of lines.slice(2, 6)) expect(readme).toContain(`// ${line} `);
    expect(lines[6]).toBe('8');
  });
});
