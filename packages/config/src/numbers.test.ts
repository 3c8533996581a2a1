import { describe, expect, it } from 'vitest';
import { parseHumanNumber } from './numbers.js';

describe('parseHumanNumber', () => {
  it('reads plain, decimal-suffix and binary-suffix numbers', () => {
    expect(parseHumanNumber('4096')).toBe(4096);
    expect(parseHumanNumber('0.9')).toBe(0.9);
    expect(parseHumanNumber('32k')).toBe(32_000);
    expect(parseHumanNumber('1.5m')).toBe(1_500_000);
    expect(parseHumanNumber('25.6k')).toBe(25_600);
    expect(parseHumanNumber('32K')).toBe(32 * 1024);
    expect(parseHumanNumber('8G')).toBe(8 * 1024 * 1024 * 1024);
    expect(parseHumanNumber('2g')).toBe(2e9);
  });

  it('gives NaN for junk and for fractions with binary suffixes', () => {
    for (const junk of ['', 'abc', '8GB', '1.5G', '1 2', '0x10']) expect(parseHumanNumber(junk)).toBeNaN();
  });
});
