import type { BlockHashFn } from './block-hash.js';
import type { KVCacheManagerOptions, KVCacheRequest } from './types.js';

/** Checks a non-negative integer and returns it; the error names `field`. */
export function checkCount(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${field} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Checks the fields of a request view the manager reads. */
export function checkRequest(request: KVCacheRequest, where: string): void {
  if (typeof request !== 'object' || request === null)
    throw new TypeError(`${where}: request must be an object`);
  if (typeof request.requestId !== 'string')
    throw new TypeError(`${where}: request.requestId must be a string`);
  if (!Array.isArray(request.allTokenIds)) {
    throw new TypeError(`${where}: request.allTokenIds must be an array (request ${request.requestId})`);
  }
  if (!Number.isSafeInteger(request.numComputedTokens) || request.numComputedTokens < 0) {
    throw new RangeError(
      `${where}: request.numComputedTokens must be a non-negative integer, got ${request.numComputedTokens} (request ${request.requestId})`,
    );
  }
  const salt = request.cacheSalt;
  if (salt !== undefined && salt !== null && typeof salt !== 'string') {
    throw new TypeError(
      `${where}: request.cacheSalt must be a string or null (request ${request.requestId})`,
    );
  }
}

/** Manager options with defaults applied. */
export interface ResolvedManagerOptions {
  numBlocks: number;
  blockSize: number;
  dcp: number;
  maxModelLen: number;
  enablePrefixCaching: boolean;
  enableEvents: boolean;
  /** null: the built-in SHA-256. */
  hashFn: BlockHashFn | null;
}

/** Checks `KVCacheManagerOptions` (errors name the field) and applies defaults. */
export function checkManagerOptions(options: KVCacheManagerOptions): ResolvedManagerOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('KVCacheManagerOptions must be an object');
  const { numBlocks, blockSize, dcp = 1, maxModelLen = Number.POSITIVE_INFINITY } = options;
  const field = (name: string, what: string, got: unknown) =>
    new RangeError(`KVCacheManagerOptions.${name} must be ${what}, got ${String(got)}`);
  if (!Number.isSafeInteger(numBlocks) || numBlocks < 2) {
    throw field('numBlocks', 'an integer >= 2 (block 0 is the null block)', numBlocks);
  }
  if (!Number.isSafeInteger(blockSize) || blockSize < 1)
    throw field('blockSize', 'a positive integer', blockSize);
  if (!Number.isSafeInteger(dcp) || dcp < 1) throw field('dcp', 'a positive integer', dcp);
  if (maxModelLen !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxModelLen) || maxModelLen < 1)) {
    throw field('maxModelLen', 'a positive integer', maxModelLen);
  }
  if (options.hashFn !== undefined && typeof options.hashFn !== 'function') {
    throw new TypeError('KVCacheManagerOptions.hashFn must be a function');
  }
  return {
    numBlocks,
    blockSize,
    dcp,
    maxModelLen,
    enablePrefixCaching: options.enablePrefixCaching ?? true,
    enableEvents: options.enableKvCacheEvents ?? false,
    hashFn: options.hashFn ?? null,
  };
}
