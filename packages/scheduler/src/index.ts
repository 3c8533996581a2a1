export { InvalidRequestError, SchedulerConfigError, SchedulerStateError } from './errors.js';
export type { SchedulerOptions } from './options.js';
export type { SchedulingPolicy } from './queue.js';
export { createRequest, type RequestLimits, resolveSampling } from './request.js';
export { Scheduler } from './scheduler.js';
export { appendToken, type StopResult } from './stop.js';
export type * from './types.js';
