import { bytesToHex } from '@noble/hashes/utils.js';
import type { KVCacheBlock } from './block.js';
import type { BlockHash, BlockHashFn } from './block-hash.js';
import { digestBlock } from './block-hash.js';

/** What the manager keeps per request: its block table, how much of it is cached, its hashes. */
export interface RequestState {
  /** The block table, in order. */
  blocks: KVCacheBlock[];
  /** Leading blocks already registered in (or taken from) the prefix cache. */
  numCachedBlocks: number;
  /** Hashes of the request's full virtual blocks so far, extended incrementally. */
  hashes: BlockHash[];
  /** Raw digest of the last hash (built-in hash only), so chaining never decodes hex. */
  lastDigest: Uint8Array | null;
  /** The cache salt the hashes were computed with (the first block's extra key). */
  salt: string | null;
}

/** State of a request the manager has not seen before. */
export function newRequestState(salt: string | null): RequestState {
  return { blocks: [], numCachedBlocks: 0, hashes: [], lastDigest: null, salt };
}

/**
 * Hashes the full virtual blocks of `tokens` not hashed yet, chaining each to the previous one;
 * earlier blocks are never rehashed, so a decode step costs at most one hash. `hashFn` null means
 * the built-in SHA-256 (`hashBlockTokens`), computed on raw digests.
 */
export function extendHashes(
  state: RequestState,
  tokens: readonly number[],
  virtualBlockSize: number,
  hashFn: BlockHashFn | null,
): void {
  const numFull = Math.floor(tokens.length / virtualBlockSize);
  for (let i = state.hashes.length; i < numFull; i++) {
    const extra = i === 0 && state.salt !== null ? [state.salt] : null;
    const start = i * virtualBlockSize;
    const end = start + virtualBlockSize;
    if (hashFn === null) {
      state.lastDigest = digestBlock(i === 0 ? null : state.lastDigest, tokens, start, end, extra);
      state.hashes.push(bytesToHex(state.lastDigest));
    } else {
      const parent = i === 0 ? null : (state.hashes[i - 1] as BlockHash);
      state.hashes.push(hashFn(parent, tokens.slice(start, end), extra));
    }
  }
}
