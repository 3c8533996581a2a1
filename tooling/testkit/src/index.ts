import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Seeded PRNG (mulberry32): uniform floats in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A package README's first fenced example of `lang`, run with Node in the package folder. */
export interface ReadmeRun {
  readme: string;
  code: string;
  /** What the example printed on stdout. */
  out: string;
}

/**
 * Runs the first ```js (or `lang`) block of `pkgDir/README.md` as an ES module in `pkgDir`, so it
 * resolves the package as a user would (its built `dist/`). Throws when the README has no such block.
 */
export function runReadmeExample(pkgDir: string, lang = 'js'): ReadmeRun {
  const readme = readFileSync(join(pkgDir, 'README.md'), 'utf8');
  const code = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
  if (code === undefined) throw new Error(`${pkgDir}/README.md has no \`\`\`${lang} example`);
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: pkgDir,
    encoding: 'utf8',
  });
  return { readme, code, out };
}

/**
 * Every module specifier a built ES module file imports (static `from`/`import`, and dynamic
 * `import(…)` of a string), following its relative imports (chunks) recursively; relative ones
 * are listed too. For checks such as "this entry reaches no Node built-in".
 */
export function importsOf(url: URL, seen = new Set<string>()): string[] {
  if (seen.has(url.href)) return [];
  seen.add(url.href);
  const text = readFileSync(url, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
  return specs.flatMap((s) => (s.startsWith('.') ? [s, ...importsOf(new URL(s, url), seen)] : [s]));
}
