import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Names of the presets shipped in the package's `presets/` folder. */
export const PRESETS = ['tiny', 'deepseek-v2-lite'] as const;

/** A preset name. */
export type PresetName = (typeof PRESETS)[number];

/**
 * The folder of a preset inside the installed package (`presets/<name>`: a Hugging Face
 * `config.json`, and for `tiny` a `tokenizer.json`), found relative to this module.
 */
export function presetDir(name: string): string {
  if (!(PRESETS as readonly string[]).includes(name)) {
    throw new RangeError(`unknown preset ${JSON.stringify(name)}; choose one of ${PRESETS.join(', ')}`);
  }
  for (const rel of ['../presets/', '../../presets/']) {
    const dir = fileURLToPath(new URL(`${rel}${name}`, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error(`preset folder ${name} is missing from the @dcp/model installation`);
}
