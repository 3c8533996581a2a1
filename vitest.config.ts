import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * One vitest project per workspace package (named after the package), tests beside the code
 * (`src/**\/*.test.ts`). Projects inherit the root options (`extends: true`), so the timeouts below
 * hold everywhere. Packages import each other through their built `dist/`: `pnpm test` builds first.
 */
const projects = ['packages', 'apps', 'tooling'].flatMap((top) =>
  readdirSync(top)
    .map((d) => join(top, d))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({
      extends: true as const,
      test: {
        name: (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }).name,
        root: dir,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts', '*.test.mjs', '*.test.ts'],
      },
    })),
);

export default defineConfig({
  test: {
    projects,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
