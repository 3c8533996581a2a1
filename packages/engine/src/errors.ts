/** The engine can no longer run: a rank crashed, exited or timed out. Every request fails with it. */
export class EngineDeadError extends Error {
  override name = 'EngineDeadError';
}

/** A request was refused before it ran (bad parameters, too long, unknown model...). */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    message: string,
    /** The offending field, vLLM/OpenAI-style (e.g. `max_tokens`). */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}
