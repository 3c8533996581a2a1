// Bundles the GPU check and the decode benchmark into self-contained ESM files (workspace
// packages inlined) for a GPU host that has no node_modules: node scripts/bundle-device.mjs OUTDIR.
// Set DCP_FLASHMLA_ADDON to the .node file there.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..', '..');
const outDir = process.argv[2] ?? join(repo, '.device', 'js');
const require = createRequire(require_resolve_tsup());
function require_resolve_tsup() {
  return createRequire(join(pkg, 'package.json')).resolve('tsup');
}
const esbuild = require('esbuild');
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  alias: {
    '@dcp/backend/testing': join(pkg, 'node_modules', '@dcp', 'backend', 'dist', 'testing', 'index.js'),
    '@dcp/flashmla-cuda/testing': join(pkg, 'dist', 'testing.js'),
    '@dcp/flashmla-cuda': join(pkg, 'dist', 'index.js'),
  },
};
await esbuild.build({
  ...common,
  entryPoints: [join(pkg, 'scripts', 'gpu-check.mjs')],
  outfile: join(outDir, 'gpu-check.mjs'),
});
await esbuild.build({
  ...common,
  entryPoints: [join(repo, 'tooling', 'bench', 'src', 'mla-decode-cuda.bench.ts')],
  outfile: join(outDir, 'mla-decode-cuda.bench.mjs'),
});
console.log(`bundled into ${outDir}`);
