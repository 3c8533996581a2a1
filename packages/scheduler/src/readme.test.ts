import { fileURLToPath } from 'node:url';
import { runReadmeExample } from '@dcp/testkit';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('README example', () => {
  it('runs against the built package and prints what its comments say', () => {
    const { readme, out } = runReadmeExample(pkgDir);
    // Both requests sample 7 then EOS (2) and stop together in step 2, leaving nobody running;
    // dcp 4 × 16-token blocks × 1,024 usable blocks = 65,536 tokens.
    expect(out.trim().split('\n')).toEqual(['a stop 0', 'b stop 0', '1024 65536']);
    expect(readme).toContain('// a stop 0\n// b stop 0\n');
  });
});
