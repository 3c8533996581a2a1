import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorReaderWeightSource } from '../reader-weight-source.js';
import { openCheckpoint } from '../safetensors/checkpoint.js';
import { SafetensorsError } from '../safetensors/errors.js';
import { rawFile, rng } from '../safetensors/test-util.js';
import { memoryByteSource, openHttpByteSource } from './byte-source.js';
import { openHttpCheckpoint } from './checkpoint.js';
import { openSafetensorsSource } from './safetensors-source.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures');

/** Serves `fixtures/` with (`/r/...`) or without (`/n/...`) Range support; counts requests. */
function serve(): Promise<{ server: Server; base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const ranged = url.pathname.startsWith('/r/');
    const noLength = url.pathname.startsWith('/h/');
    const shifted = url.pathname.startsWith('/w/');
    const rel = url.pathname.slice(3);
    requests.push(`${req.headers.range ?? 'GET'} ${url.pathname}`);
    let body: Buffer;
    try {
      body = readFileSync(join(fixtures, rel));
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if ((ranged || noLength || shifted) && m) {
      // `/w/`: a broken cache that answers every range from the start of the file.
      const a0 = shifted ? 0 : Number(m[1]);
      const [a, b] = [a0, Math.min(a0 + Number(m[2]) - Number(m[1]), body.length - 1)];
      const headers: Record<string, string> = noLength
        ? {}
        : { 'Content-Range': `bytes ${a}-${b}/${body.length}` };
      res.writeHead(206, headers).end(body.subarray(a, b + 1));
    } else res.writeHead(200).end(body);
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () =>
      ok({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }),
    ),
  );
}

/** Whole-tensor f32 values decoded here from the raw file (independent of the readers). */
function decodeByHand(file: string, name: string): Float32Array {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const {
    dtype,
    data_offsets: [a, b],
  } = h[name];
  const bytes = buf.subarray(8 + n + a, 8 + n + b);
  if (dtype === 'F32')
    return Float32Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(4 * i));
  if (dtype !== 'BF16') throw new Error(`test decodes F32/BF16 only, got ${dtype}`);
  const tmp = Buffer.alloc(4);
  return Float32Array.from({ length: bytes.length / 2 }, (_, i) => {
    tmp.writeUInt32LE((bytes.readUInt16LE(2 * i) << 16) >>> 0);
    return tmp.readFloatLE(0);
  });
}

let srv: Awaited<ReturnType<typeof serve>>;
beforeAll(async () => (srv = await serve()));
afterAll(() => srv.server.close());

describe('openHttpCheckpoint', () => {
  for (const name of ['moe-grouped-yarn', 'tied-yarn-bf16']) {
    it(`${name}: every tensor and slices equal the file's bytes and the Node reader`, async () => {
      const http = await openHttpCheckpoint(`${srv.base}/r/${name}/`);
      const node = await openCheckpoint(join(fixtures, name));
      try {
        expect([...http.names].sort()).toEqual([...node.names].sort());
        expect(http.files.length).toBe(node.files.length);
        for (const t of http.names) {
          const file = node.fileOf(t).path;
          expect([...(await http.readF32(t))], t).toEqual([...decodeByHand(file, t)]);
          const shape = http.info(t).shape;
          if (shape.length === 2 && shape[0]! > 2 && shape[1]! > 2) {
            const cols = [1, shape[1]! - 1] as const;
            expect([...(await http.readF32(t, { cols }))]).toEqual([...(await node.readF32(t, { cols }))]);
            const rows = [1, 2] as const;
            expect([...(await http.readF32(t, { rows }))]).toEqual([...(await node.readF32(t, { rows }))]);
          }
        }
      } finally {
        await node.close();
      }
    });
  }

  it('fetches only the bytes of a row slice with Range requests', async () => {
    const http = await openHttpCheckpoint(`${srv.base}/r/tied-yarn-bf16`);
    const t = http.names.find((n) => http.info(n).shape.length === 2 && http.info(n).shape[0]! >= 8)!;
    const [rows, cols] = http.info(t).shape as [number, number];
    const before = http.stats.bytesRead;
    await http.readF32(t, { rows: [0, rows / 2] });
    expect(http.stats.bytesRead - before).toBe((rows / 2) * cols * 2);
  });

  it('reads from a server that ignores Range (the whole file is kept in memory)', async () => {
    const http = await openHttpCheckpoint(`${srv.base}/n/latent576/`);
    const node = await openCheckpoint(join(fixtures, 'latent576'));
    try {
      const n0 = srv.requests.length;
      for (const t of http.names) expect([...(await http.readF32(t))]).toEqual([...(await node.readF32(t))]);
      expect(srv.requests.length).toBe(n0); // no request after opening
    } finally {
      await node.close();
    }
  });

  it('names the URL and the fix when something is wrong', async () => {
    await expect(openHttpCheckpoint(`${srv.base}/r/nowhere/`)).rejects.toThrow(
      /nowhere\/model\.safetensors.*HTTP 404/,
    );
    await expect(openHttpByteSource(`${srv.base}/h/latent576/model.safetensors`)).rejects.toThrow(
      /Content-Range.*Access-Control-Expose-Headers/,
    );
    await expect(openHttpCheckpoint('http://127.0.0.1:1/x/')).rejects.toThrow(SafetensorsError);
    await expect(openHttpCheckpoint(`${srv.base}/w/latent576/`)).rejects.toThrow(
      /asked for bytes 8-\d+, the response holds bytes 0-/,
    );
  });
});

describe('openSafetensorsSource over memory', () => {
  it('rejects truncated files and reads past the end, naming the source', async () => {
    const data = new Uint8Array(16);
    const whole = rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data);
    await expect(
      openSafetensorsSource(memoryByteSource('cut.safetensors', whole.subarray(0, whole.length - 4))),
    ).rejects.toThrow(/cut\.safetensors.*run past the end/);
    await expect(memoryByteSource('m', whole).read(whole.length - 2, 4)).rejects.toThrow(
      /m: read of 4 bytes/,
    );
  });

  it('serves a weight source: fused experts sliced per expert, shape checks, missing tensors', async () => {
    const rand = rng(5);
    const [E, I, H] = [3, 4, 6];
    const gateUp = Float32Array.from({ length: E * 2 * I * H }, () => rand() - 0.5);
    const head = {
      'model.layers.1.mlp.experts.gate_up_proj': {
        dtype: 'F32',
        shape: [E, 2 * I, H],
        data_offsets: [0, gateUp.byteLength],
      },
    };
    const file = rawFile(head, new Uint8Array(gateUp.buffer));
    const src = tensorReaderWeightSource(await openSafetensorsSource(memoryByteSource('mem', file)), 'mem');
    // Expert 2's up_proj rows [I, 2I) of the fused [2I, H] block, computed by hand.
    const want: number[] = [];
    for (let r = I; r < 2 * I; r++) for (let c = 0; c < H; c++) want.push(gateUp[(2 * 2 * I + r) * H + c]!);
    const got = await src.read('model.layers.1.mlp.experts.2.up_proj.weight', [I, H], {
      dim: null,
      start: 0,
      end: I,
      shape: [I, H],
    });
    expect([...got]).toEqual(want.map(Math.fround));
    await expect(
      src.read('model.layers.1.mlp.experts.2.down_proj.weight', [H, I], {
        dim: null,
        start: 0,
        end: H,
        shape: [H, I],
      }),
    ).rejects.toThrow(/missing from the checkpoint in mem/);
    await expect(
      src.read('model.layers.1.mlp.experts.gate_up_proj', [E, I, H], {
        dim: null,
        start: 0,
        end: E,
        shape: [E, I, H],
      }),
    ).rejects.toThrow(/does not match the config's \[3, 4, 6\]/);
  });
});
