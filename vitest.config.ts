import { defineConfig } from 'vitest/config';

// One vitest project per workspace package; tests sit beside the code (`src/**/*.test.ts`).
// Packages import each other through their built `dist/` (run `pnpm build` first: `pnpm test` does).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tooling/*'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
