import { createRequire } from 'node:module';
import { ConfigError } from '@dcp/config';
import { addEngineOptions, engineConfigFromOptions } from '@dcp/config/node';
import type { Command } from 'commander';
import { buildServer } from '../http/app.js';
import { createMetrics } from '../http/metrics.js';
import type { CliIo } from '../io.js';
import { intOption } from './cli-values.js';
import { startEngine } from './engine-start.js';

/** How long in-flight requests may run on after SIGINT/SIGTERM before they are aborted. */
const SHUTDOWN_GRACE_MS = Number(process.env.DCP_SHUTDOWN_GRACE_MS ?? 10_000);

function version(): string {
  try {
    return (createRequire(import.meta.url)('@dcp/server/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * `dcp serve`: the OpenAI-compatible server. With no model it serves the embedded default on
 * `-tp 2 -dcp 2` CPU threads (unless those flags are given).
 */
export function registerServe(program: Command, io: CliIo): Command {
  const command = program
    .command('serve')
    .description('serve a model over an OpenAI-compatible HTTP API')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8000')
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1/*')
    .option('--served-model-name <names...>', 'model name(s) clients use (default: the model argument)')
    .option('--max-log-len <n>', 'characters of each prompt to log (default 0: none)')
    .option('--log-level <level>', 'pino log level', 'info');
  addEngineOptions(command).action(async (positional: string | undefined, opts: Record<string, unknown>) => {
    const embedded = positional === undefined && opts.model === undefined;
    if (embedded) {
      opts.tensorParallelSize ??= '2';
      opts.decodeContextParallelSize ??= '2';
    }
    const config = engineConfigFromOptions(opts, {
      positionalModel: positional,
      onWarning: (w) => io.err(`warning: ${w}`),
    });
    const port = intOption('--port', opts.port, 0)!;
    if (port > 65535)
      throw new ConfigError(`--port must be in [0, 65535], got ${port}`, { field: 'port', flag: '--port' });
    const maxLogLen = intOption('--max-log-len', opts.maxLogLen, 0) ?? 0;
    const created = await startEngine(config, io);
    const name = config.model ?? created.model.name;
    const names = (opts.servedModelName as string[] | undefined) ?? [name];
    const ctx = {
      llm: created.llm,
      tokenizer: created.tokenizer,
      servedModelNames: names,
      maxModelLen: created.maxModelLen,
      apiKey: (opts.apiKey as string | undefined) ?? null,
      maxLogLen,
      version: version(),
      metrics: createMetrics(created.engine, names[0]!),
      active: { count: 0 },
    };
    const app = buildServer(ctx, { logger: { level: opts.logLevel as string } });
    let closing = false;
    const shutdown = async (signal: string) => {
      if (closing) return;
      closing = true;
      io.err(
        `${signal}: shutting down (in-flight requests get ${SHUTDOWN_GRACE_MS / 1000} s, then are aborted)`,
      );
      app.server.close(); // stop accepting connections
      const waitIdle = async (ms: number) => {
        const end = Date.now() + ms;
        while (ctx.active.count > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      };
      await waitIdle(SHUTDOWN_GRACE_MS);
      if (ctx.active.count > 0) {
        created.llm.abortAll(); // their streams end with finish and [DONE]
        await waitIdle(5_000);
      }
      await app.close();
      await created.llm.shutdown();
      process.exit(0);
    };
    process.once('SIGINT', () => void shutdown('SIGINT'));
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    const address = await app.listen({ host: opts.host as string, port });
    io.err(`serving ${names.join(', ')} on ${address}/v1 (max model length ${created.maxModelLen})`);
    await new Promise(() => {});
  });
  return command;
}
