export { InvalidRequestError, SchedulerConfigError, SchedulerStateError } from './errors.js';
export type { SchedulerOptions } from './options.js';
export type { SchedulingPolicy } from './queue.js';
export { createRequest, type RequestLimits } from './request.js';
export { Scheduler } from './scheduler.js';
export type * from './types.js';
