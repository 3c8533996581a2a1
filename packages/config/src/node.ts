import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { parseHfModelConfig } from './hf-config.js';
import type { ModelConfig } from './model-config.js';

/**
 * Reads `<folder>/config.json` (or the file itself when `path` names a `.json` file) and parses it
 * with {@link parseHfModelConfig}. A missing file or invalid JSON is a {@link ConfigError} naming
 * the path.
 */
export async function loadHfModelConfig(path: string): Promise<ModelConfig> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, 'config.json');
  } catch {
    throw new ConfigError(`model: ${path} does not exist (give a folder holding config.json)`, {
      field: 'model',
    });
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ConfigError(`model: cannot read ${file} (a Hugging Face model folder has a config.json)`, {
      field: 'model',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${(error as Error).message})`, { field: 'model' });
  }
  return parseHfModelConfig(json, file);
}

export type { FromOptionsExtra } from './cli-options.js';
export { addEngineOptions, engineConfigFromOptions, parseCliArgs } from './cli-options.js';
