import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

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
const BAD_PARENT = 'hashBlockTokens: parent must be a 64-character hex BlockHash or null';

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
  const keys: (Uint8Array | number)[] = [];
  let keyLength = 0;
  if (extraKeys) {
    for (const key of extraKeys) {
      if (typeof key === 'string') {
        const bytes = utf8ToBytes(key);
        keys.push(bytes);
        keyLength += 5 + bytes.length;
      } else if (typeof key === 'number') {
        keys.push(key);
        keyLength += 9;
      } else {
        throw new TypeError(
          `hashBlockTokens: extraKeys entries must be strings or numbers, got ${typeof key}`,
        );
      }
    }
  }
  const headLength = 1 + (parent === null ? 0 : 32) + 4;
  const buf = new Uint8Array(headLength + 4 * tokens.length + 4 + keyLength);
  let at = 0;
  if (parent === null) {
    buf[at++] = ROOT;
  } else {
    buf[at++] = CHILD;
    putHex32(buf, at, parent);
    at += 32;
  }
  putU32(buf, at, tokens.length);
  at += 4;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as number;
    if (!(Number.isInteger(t) && t >= 0 && t <= 0xffffffff)) {
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
  return bytesToHex(sha256(buf));
}

/** Writes `v` (an integer in [0, 2³²)) little-endian at `at`. */
function putU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}

/** Decodes a 64-character hex digest into 32 bytes at `at`. */
function putHex32(buf: Uint8Array, at: number, hex: string): void {
  if (typeof hex !== 'string' || hex.length !== 64) {
    throw new TypeError(BAD_PARENT);
  }
  for (let i = 0; i < 32; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if ((hi | lo) < 0) throw new TypeError(BAD_PARENT);
    buf[at + i] = (hi << 4) | lo;
  }
}

/** Value of one hex digit's char code, or −1. */
function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}
