import { SafetensorsError } from '../safetensors/errors.js';

/**
 * Random access to the bytes of one file wherever it lives (memory, HTTP, a browser `File`):
 * what the platform-neutral safetensors reader needs instead of a file descriptor.
 */
export interface ByteSource {
  /** Where the bytes come from (a URL, a name), for messages. */
  readonly label: string;
  /** Size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `offset`, in a fresh `Uint8Array` of their own. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

function checkRange(label: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new SafetensorsError(label, `read: offset ${offset} and length ${length} must be integers >= 0`);
  }
  if (offset + length > size) {
    throw new SafetensorsError(
      label,
      `read of ${length} bytes at ${offset} runs past the end (${size} bytes)`,
    );
  }
}

/** Bytes already in memory (a fetched file, a `File`'s `arrayBuffer()`, a SharedArrayBuffer). */
export function memoryByteSource(
  label: string,
  bytes: Uint8Array | ArrayBuffer | SharedArrayBuffer,
): ByteSource {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    label,
    size: view.byteLength,
    async read(offset, length) {
      checkRange(label, view.byteLength, offset, length);
      return view.slice(offset, offset + length);
    },
  };
}

/** Options of `openHttpByteSource`. */
export interface HttpByteSourceOptions {
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
}

async function httpError(label: string, res: Response, what: string): Promise<SafetensorsError> {
  return new SafetensorsError(label, `${what}: HTTP ${res.status} ${res.statusText}`.trim());
}

/**
 * A file served over HTTP, read with `Range` requests: opening asks for its first byte and takes
 * the size from `Content-Range` (cross-origin servers must expose that header). A server that
 * ignores `Range` answers 200 with the whole file, which is then kept in memory.
 */
export async function openHttpByteSource(
  url: string | URL,
  o: HttpByteSourceOptions = {},
): Promise<ByteSource> {
  const label = String(url);
  const get = o.fetch ?? globalThis.fetch;
  if (typeof get !== 'function')
    throw new SafetensorsError(label, 'no fetch in this runtime: pass options.fetch');
  const request = async (range: string) => {
    try {
      return await get(url, { headers: { ...o.headers, Range: range } });
    } catch (e) {
      throw new SafetensorsError(label, `fetch failed (${(e as Error).message})`);
    }
  };
  const first = await request('bytes=0-0');
  if (first.status === 200) return memoryByteSource(label, new Uint8Array(await first.arrayBuffer()));
  if (first.status === 416) return memoryByteSource(label, new Uint8Array(0));
  if (first.status !== 206) throw await httpError(label, first, 'opening');
  await first.arrayBuffer();
  const total = /\/(\d+)\s*$/.exec(first.headers.get('Content-Range') ?? '');
  if (!total) {
    throw new SafetensorsError(
      label,
      'the 206 response has no Content-Range with the file size (cross-origin: expose it with Access-Control-Expose-Headers)',
    );
  }
  const size = Number(total[1]);
  return {
    label,
    size,
    async read(offset, length) {
      checkRange(label, size, offset, length);
      if (length === 0) return new Uint8Array(0);
      const res = await request(`bytes=${offset}-${offset + length - 1}`);
      if (res.status !== 206 && res.status !== 200)
        throw await httpError(label, res, `reading ${length} bytes at ${offset}`);
      let body = new Uint8Array(await res.arrayBuffer());
      if (res.status === 200) body = body.slice(offset, offset + length);
      else {
        // A cache or proxy in between must not hand back another part of the file.
        const got = /^bytes (\d+)-(\d+)\//.exec(res.headers.get('Content-Range') ?? '');
        if (!got || Number(got[1]) !== offset || Number(got[2]) !== offset + length - 1) {
          throw new SafetensorsError(
            label,
            `asked for bytes ${offset}-${offset + length - 1}, the response holds ${res.headers.get('Content-Range') ?? 'no Content-Range'}`,
          );
        }
      }
      if (body.byteLength !== length) {
        throw new SafetensorsError(label, `asked for ${length} bytes at ${offset}, got ${body.byteLength}`);
      }
      return body;
    },
  };
}
