export { buildServer, type ServerOptions } from './app.js';
export type { ServerContext } from './context.js';
export { ApiError, errorBody } from './errors.js';
export { createMetrics, type Metrics } from './metrics.js';
