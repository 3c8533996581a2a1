import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** A block hash: 64 lowercase hex characters of a SHA-256 digest. */
export type BlockHash = string;

/** Extra keys mixed into a block hash (cache salt, adapter name, multimodal ids, ...). */
export type ExtraKeys = readonly (string | number)[];

/** A block hash function: `hashBlockTokens` or a collision-resistant replacement. */
export type BlockHashFn = (
  parent: BlockHash | null,
  tokens: ArrayLike<number>,
  extraKeys: ExtraKeys | null,
) => BlockHash;

const ROOT = 0;
const CHILD = 1;
const TAG_STRING = 0;
const TAG_NUMBER = 1;

/**
 * Hash of one full block: SHA-256 over an unambiguous byte encoding of
 * `(parent hash | none, token ids, extra keys)`. Chaining the parent makes the hash of block `i`
 * stand for the whole prefix `[0, (i + 1) · blockSize)`.
 *
 * Encoding (all integers little-endian u32): a tag byte (0 = first block, 1 = has parent), the 32
 * parent digest bytes when present, the token count and tokens, the extra-key count and each key as
 * a tag byte plus either a u32 byte length and UTF-8 bytes (string) or a float64 (number).
 *
 * @param parent hash of the previous block of the same sequence, or `null` for the first block
 * @param tokens the block's token ids: integers in [0, 2³²)
 * @param extraKeys optional keys that must also match for a cache hit
 */
export function hashBlockTokens(
  parent: BlockHash | null,
  tokens: ArrayLike<number>,
  extraKeys?: ExtraKeys | null,
): BlockHash {
  let parentDigest: Uint8Array | null = null;
  if (parent !== null) {
    if (typeof parent !== 'string' || parent.length !== 64) throw badParent();
    try {
      parentDigest = hexToBytes(parent);
    } catch {
      throw badParent();
    }
  }
  return bytesToHex(digestBlock(parentDigest, tokens, 0, tokens.length, extraKeys ?? null));
}

function badParent(): TypeError {
  return new TypeError('hashBlockTokens: parent must be a 64-character hex BlockHash or null');
}

/**
 * The raw 32-byte digest behind `hashBlockTokens`, for `tokens[start..end)` chained to the raw
 * `parent` digest. The manager chains raw digests so it never decodes hex.
 */
export function digestBlock(
  parent: Uint8Array | null,
  tokens: ArrayLike<number>,
  start: number,
  end: number,
  extraKeys: ExtraKeys | null,
): Uint8Array {
  const keys: (Uint8Array | number)[] = [];
  let keyLength = 0;
  for (const key of extraKeys ?? []) {
    if (typeof key === 'string') {
      const bytes = utf8ToBytes(key);
      keys.push(bytes);
      keyLength += 5 + bytes.length;
    } else if (typeof key === 'number') {
      keys.push(key);
      keyLength += 9;
    } else {
      throw new TypeError(`hashBlockTokens: extraKeys entries must be strings or numbers, got ${typeof key}`);
    }
  }
  const n = end - start;
  const buf = new Uint8Array(1 + (parent === null ? 0 : 32) + 4 + 4 * n + 4 + keyLength);
  let at = 0;
  if (parent === null) {
    buf[at++] = ROOT;
  } else {
    buf[at++] = CHILD;
    buf.set(parent, at);
    at += 32;
  }
  putU32(buf, at, n);
  at += 4;
  for (let i = start; i < end; i++) {
    const t = tokens[i] as number;
    if (t >>> 0 !== t) {
      throw new RangeError(`hashBlockTokens: tokens[${i}] must be an integer in [0, 2^32), got ${t}`);
    }
    putU32(buf, at, t);
    at += 4;
  }
  putU32(buf, at, keys.length);
  at += 4;
  for (const key of keys) {
    if (typeof key === 'number') {
      buf[at++] = TAG_NUMBER;
      new DataView(buf.buffer).setFloat64(at, key, true);
      at += 8;
    } else {
      buf[at++] = TAG_STRING;
      putU32(buf, at, key.length);
      at += 4;
      buf.set(key, at);
      at += key.length;
    }
  }
  return sha256(buf);
}

/** Writes `v` (an integer in [0, 2³²)) little-endian at `at`. */
function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}
