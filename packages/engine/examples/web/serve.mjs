// Serves the browser example: bundles main.js and rank-worker.js with esbuild (as any bundler
// would), and serves them, the page and the brown model with the cross-origin isolation headers
// that SharedArrayBuffer needs. Run from the repository after `pnpm turbo run build --filter=@dcp/engine...`:
//   node packages/engine/examples/web/serve.mjs     (PORT=0 picks a free port)
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brownModelDir } from '@dcp/brown-model';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
const bundles = {};
for (const name of ['main.js', 'rank-worker.js']) {
  const r = await build({
    entryPoints: [join(here, name)],
    bundle: true,
    write: false,
    format: 'esm',
    logLevel: 'error',
  });
  bundles[`/${name}`] = r.outputFiles[0].text;
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path === '/')
    return res
      .writeHead(200, { ...isolation, 'Content-Type': 'text/html' })
      .end(await readFile(join(here, 'index.html')));
  if (bundles[path])
    return res.writeHead(200, { ...isolation, 'Content-Type': 'text/javascript' }).end(bundles[path]);
  const file = join(brownModelDir, normalize(path.replace(/^\/models\/brown\//, '')));
  if (
    !path.startsWith('/models/brown/') ||
    !file.startsWith(brownModelDir) ||
    !(await stat(file).catch(() => null))
  ) {
    return res.writeHead(404, isolation).end();
  }
  const data = await readFile(file);
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? ''); // the ranks fetch their slices
  if (!range) return res.writeHead(200, isolation).end(data);
  const [a, b] = [Number(range[1]), Math.min(Number(range[2]), data.length - 1)];
  res
    .writeHead(206, { ...isolation, 'Content-Range': `bytes ${a}-${b}/${data.length}` })
    .end(data.subarray(a, b + 1));
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () =>
  console.log(`serving http://127.0.0.1:${server.address().port}/ (open it in a browser with WebGPU)`),
);
