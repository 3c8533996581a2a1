// A small static server for the web-engine tests: pages, scripts and model folders, with the
// cross-origin isolation headers (or without them on pages marked so) and HTTP Range support.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface Site {
  /** HTML by path; `isolated: false` serves it without the COOP/COEP headers. */
  pages?: Record<string, { html: string; isolated: boolean }>;
  /** JavaScript by path. */
  scripts?: Record<string, string>;
  /** URL prefix (`/models/brown/`) → folder. */
  folders?: Record<string, string>;
}

export interface Served {
  server: Server;
  base: string;
  /** Range requests answered, as `path start-end`. */
  ranges: string[];
  close(): Promise<void>;
}

function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  rel: string,
  ranges: string[],
): void {
  const size = statSync(file).size;
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (m) {
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), size - 1)];
    ranges.push(`${rel} ${a}-${b}`);
    res
      .writeHead(206, { ...ISOLATION, 'Content-Range': `bytes ${a}-${b}/${size}` })
      .end(readFileSync(file).subarray(a, b + 1));
    return;
  }
  const type = rel.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  res.writeHead(200, { ...ISOLATION, 'Content-Type': type }).end(readFileSync(file));
}

/** Serves `site` on 127.0.0.1 (a free port). */
export function serveSite(site: Site): Promise<Served> {
  const ranges: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const page = site.pages?.[path];
    if (page) {
      res.writeHead(200, { ...(page.isolated ? ISOLATION : {}), 'Content-Type': 'text/html' }).end(page.html);
      return;
    }
    const script = site.scripts?.[path];
    if (script !== undefined) {
      res.writeHead(200, { ...ISOLATION, 'Content-Type': 'text/javascript' }).end(script);
      return;
    }
    for (const [prefix, dir] of Object.entries(site.folders ?? {})) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(decodeURIComponent(path.slice(prefix.length)));
      const file = join(dir, rel);
      if (file.startsWith(dir) && existsSync(file) && statSync(file).isFile()) {
        sendFile(req, res, file, `${prefix}${rel}`, ranges);
        return;
      }
    }
    res.writeHead(404, ISOLATION).end();
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () =>
      ok({
        server,
        base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        ranges,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}
