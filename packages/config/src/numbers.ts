const DECIMAL: Readonly<Record<string, number>> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };
const BINARY: Readonly<Record<string, number>> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Reads a number the way vLLM reads token and byte counts: plain (`4096`, `0.9`) or with a suffix,
 * lowercase decimal (`32k` = 32 000, `1.5m` = 1 500 000) or uppercase binary (`8G` = 8·2³⁰; no
 * fraction allowed). Returns `NaN` for anything else, so a schema can reject it.
 */
export function parseHumanNumber(text: string): number {
  const match = /^\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*([kmgtKMGT]?)\s*$/.exec(text);
  if (!match) return Number.NaN;
  const [, digits = '', suffix = ''] = match;
  const value = Number(digits);
  if (suffix === '') return value;
  const binary = BINARY[suffix];
  if (binary !== undefined) return Number.isInteger(value) ? value * binary : Number.NaN;
  return Math.round(value * (DECIMAL[suffix] ?? Number.NaN) * 1e6) / 1e6;
}
