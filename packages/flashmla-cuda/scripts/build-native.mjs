// Builds the CUDA addon with the package Makefile and stages it at dist/native/linux-x64/.
// `--if-nvcc`: skip with a printed reason when nvcc is missing (the normal `build` script).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const optional = process.argv.includes('--if-nvcc');
const cuda = process.env.CUDA ?? '/usr/local/cuda';
const nvcc = process.env.NVCC ?? join(cuda, 'bin', 'nvcc');

function haveNvcc() {
  if (existsSync(nvcc)) return true;
  return spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
}

if (!haveNvcc()) {
  const msg = `@dcp/flashmla-cuda: nvcc not found (looked at ${nvcc} and PATH); the native addon was not built`;
  if (optional) {
    console.log(`${msg} (skipped).`);
    process.exit(0);
  }
  console.error(`${msg}. Install the CUDA toolkit or set NVCC/CUDA.`);
  process.exit(1);
}
const jobs = String(Math.min(4, availableParallelism()));
execFileSync('make', ['-j', jobs, `CUDA=${cuda}`], { cwd: root, stdio: 'inherit' });
const out = join(root, 'dist', 'native', 'linux-x64');
mkdirSync(out, { recursive: true });
copyFileSync(join(root, 'build', 'flashmla_cuda.node'), join(out, 'flashmla_cuda.node'));
console.log('@dcp/flashmla-cuda: built dist/native/linux-x64/flashmla_cuda.node');
