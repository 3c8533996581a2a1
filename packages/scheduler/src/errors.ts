/** A scheduler option is missing or out of range; the message names the option and the fix. */
export class SchedulerConfigError extends Error {
  override name = 'SchedulerConfigError';
}

/** A request given to `addRequest` is invalid; the message names the field and the fix. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
}

/** The scheduler was driven out of order (e.g. the same step's output applied twice). */
export class SchedulerStateError extends Error {
  override name = 'SchedulerStateError';
}
