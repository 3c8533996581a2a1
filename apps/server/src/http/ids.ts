import { randomBytes } from 'node:crypto';

/** A random request id with an OpenAI-style prefix (`cmpl-…`, `chatcmpl-…`). */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** Seconds since the epoch, as OpenAI's `created`. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
