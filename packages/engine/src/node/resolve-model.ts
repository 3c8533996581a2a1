import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brownModelDir } from '@dcp/brown-model';
import { PRESETS, presetDir } from '@dcp/model/node';
import { RequestError } from '../errors.js';

/** Model names besides a path: the dummy-weight presets of `@dcp/model` and the trained `brown`. */
export const MODEL_NAMES: readonly string[] = ['brown', ...PRESETS];

/** A model folder ready to load, and how its weights load. */
export interface ResolvedModel {
  /** What the user asked for (a preset name or a path). */
  name: string;
  dir: string;
  loadFormat: 'safetensors' | 'dummy';
  /** The folder's tokenizer files, or null when it has none. */
  tokenizer: { json: object; config: Record<string, unknown> } | null;
  notices: string[];
}

/** The error of a model argument that names no preset and no usable folder. */
export class ModelNotFoundError extends RequestError {
  override name = 'ModelNotFoundError';
}

/**
 * Resolves `MODEL` (`brown`: the trained model of `@dcp/brown-model`; a preset name; or a folder
 * with `config.json`) and `--load-format` to a folder
 * and a weight format: `auto` loads safetensors when the folder has them and dummy weights
 * otherwise (a preset without weights), with a notice.
 */
export function resolveModel(model: string, loadFormat: 'auto' | 'safetensors' | 'dummy'): ResolvedModel {
  const notices: string[] = [];
  let dir: string;
  if (model === 'brown') dir = brownModelDir;
  else if ((PRESETS as readonly string[]).includes(model)) dir = presetDir(model);
  else {
    dir = resolve(model);
    if (!existsSync(join(dir, 'config.json'))) {
      throw new ModelNotFoundError(
        `model: ${model} is neither a model name (${MODEL_NAMES.join(', ')}) nor a folder with a config.json`,
        'model',
      );
    }
  }
  const hasWeights = readdirSync(dir).some((f) => f.endsWith('.safetensors'));
  let format: 'safetensors' | 'dummy';
  if (loadFormat === 'dummy') format = 'dummy';
  else if (hasWeights) format = 'safetensors';
  else if (loadFormat === 'safetensors') {
    throw new ModelNotFoundError(
      `--load-format safetensors: ${dir} has no .safetensors files`,
      'load_format',
    );
  } else {
    format = 'dummy';
    notices.push(`${model} has no weights: using deterministic dummy weights (--load-format dummy)`);
  }
  const tj = join(dir, 'tokenizer.json');
  const tc = join(dir, 'tokenizer_config.json');
  const tokenizer = existsSync(tj)
    ? {
        json: JSON.parse(readFileSync(tj, 'utf8')) as object,
        config: existsSync(tc) ? (JSON.parse(readFileSync(tc, 'utf8')) as Record<string, unknown>) : {},
      }
    : null;
  return { name: model, dir, loadFormat: format, tokenizer, notices };
}
