import type { KVCacheRequest } from './types.js';

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
