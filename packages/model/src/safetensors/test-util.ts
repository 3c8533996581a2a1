import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { mulberry32 as rng } from '@dcp/testkit';

/** A fresh temporary folder and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dcp-safetensors-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Raw file bytes built by hand (independent of the writer under test): the u64 length (or
 * `lengthOverride`), the header text, then `data`.
 */
export function rawFile(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  lengthOverride?: bigint,
): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

/** Element at multi-index `idx` of a row-major array of `shape` (plain arithmetic, for expectations). */
export function at<T>(values: ArrayLike<T>, shape: readonly number[], idx: readonly number[]): T {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + idx[d]!;
  return values[flat]!;
}

/** Every multi-index inside per-dimension ranges, in row-major order. */
export function* indices(ranges: ReadonlyArray<readonly [number, number]>): Generator<number[]> {
  if (ranges.some(([s, e]) => e <= s)) return;
  const idx = ranges.map(([s]) => s);
  for (;;) {
    yield [...idx];
    let d = ranges.length - 1;
    while (d >= 0) {
      idx[d]!++;
      if (idx[d]! < ranges[d]![1]) break;
      idx[d] = ranges[d]![0];
      d--;
    }
    if (d < 0) return;
  }
}
