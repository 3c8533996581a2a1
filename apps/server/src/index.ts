export {
  DEFAULT_NUM_HEADS,
  describeLayout,
  type LayoutSource,
  layoutJson,
  registerCheckConfig,
} from './commands/check-config.js';
export {
  ApiError,
  buildServer,
  createMetrics,
  errorBody,
  type Metrics,
  type ServerContext,
  type ServerOptions,
} from './http/index.js';
export { type CliIo, processIo } from './io.js';
export { createProgram, EXIT_USAGE, runCli } from './program.js';
