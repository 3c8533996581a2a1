import type { EngineConfig } from '@dcp/config';
import { type CreatedEngine, createEngine } from '@dcp/engine/node';
import type { CliIo } from '../io.js';
import { ProgressBar } from '../progress.js';

/**
 * The model `dcp serve`/`generate`/`eval-ppl` use when none is given: `brown`, the trained
 * DeepSeek-V2 of `@dcp/brown-model` (`tiny`, dummy weights, stays available by name).
 */
export const DEFAULT_MODEL = 'brown';

/**
 * Starts the engine for a CLI command: logs the layout, backend and KV capacity on the error
 * stream, draws a progress bar while weights load, and returns the running engine.
 */
export async function startEngine(config: EngineConfig, io: CliIo, quiet = false): Promise<CreatedEngine> {
  const bar = new ProgressBar('loading weights', (line) => io.err(line), quiet);
  const created = await createEngine(config, {
    log: (line) => {
      if (!quiet) io.err(line);
    },
    onProgress: (done, total) => bar.update(done, total),
    defaultModel: DEFAULT_MODEL,
  });
  bar.done();
  return created;
}
