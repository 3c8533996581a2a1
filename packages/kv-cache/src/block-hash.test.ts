import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashBlockTokens } from './block-hash.js';
import { mulberry32 } from './test-util.js';

/** Independent encoder + node:crypto SHA-256, written from the documented byte layout. */
function reference(parent: string | null, tokens: number[], extra: (string | number)[] = []): string {
  const parts: Buffer[] = [];
  parts.push(Buffer.from([parent === null ? 0 : 1]));
  if (parent !== null) parts.push(Buffer.from(parent, 'hex'));
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  parts.push(u32(tokens.length), ...tokens.map(u32), u32(extra.length));
  for (const key of extra) {
    if (typeof key === 'string') {
      const bytes = Buffer.from(key, 'utf8');
      parts.push(Buffer.from([0]), u32(bytes.length), bytes);
    } else {
      const b = Buffer.alloc(9);
      b.writeDoubleLE(key, 1);
      b[0] = 1;
      parts.push(b);
    }
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
}

describe('hashBlockTokens', () => {
  it('matches an independent encoder hashed with node:crypto on random blocks', () => {
    const rand = mulberry32(7);
    let parent: string | null = null;
    for (let i = 0; i < 50; i++) {
      const tokens = Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 2 ** 32));
      const extra = i % 3 === 0 ? [`salt-${i}`, 'ünïcode', rand() * 100] : [];
      const got = hashBlockTokens(parent, tokens, extra);
      expect(got).toBe(reference(parent, tokens, extra));
      expect(got).toMatch(/^[0-9a-f]{64}$/);
      parent = got;
    }
  });

  it('separates parent, token and extra-key changes', () => {
    const base = hashBlockTokens(null, [1, 2, 3, 4]);
    const seen = new Set([
      base,
      hashBlockTokens(null, [1, 2, 3, 5]),
      hashBlockTokens(null, [1, 2, 3]),
      hashBlockTokens(base, [1, 2, 3, 4]),
      hashBlockTokens(null, [1, 2, 3, 4], ['a']),
      hashBlockTokens(null, [1, 2, 3, 4], ['b']),
      hashBlockTokens(null, [1, 2, 3, 4], ['ab']),
      hashBlockTokens(null, [1, 2, 3, 4], ['a', 'b']),
      hashBlockTokens(null, [1, 2, 3, 4], [1]),
      hashBlockTokens(null, [1, 2, 3, 4], ['1']),
    ]);
    expect(seen.size).toBe(10);
    expect(hashBlockTokens(null, [1, 2, 3, 4], [])).toBe(base);
    expect(hashBlockTokens(null, new Int32Array([1, 2, 3, 4]))).toBe(base);
  });

  it('rejects bad inputs with the field named', () => {
    expect(() => hashBlockTokens(null, [1, -1])).toThrow(/tokens\[1\]/);
    expect(() => hashBlockTokens(null, [1.5])).toThrow(/tokens\[0\]/);
    expect(() => hashBlockTokens('abc', [1])).toThrow(/parent/);
    expect(() => hashBlockTokens('z'.repeat(64), [1])).toThrow(/parent/);
    expect(() => hashBlockTokens(null, [1], [{} as unknown as string])).toThrow(/extraKeys/);
  });
});
