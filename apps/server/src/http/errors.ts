/** An error the API reports to the client in OpenAI's shape. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type: string = errorType(status),
  ) {
    super(message);
  }
}

/** vLLM's error type names by HTTP status. */
export function errorType(status: number): string {
  if (status === 401) return 'AuthenticationError';
  if (status === 404) return 'NotFoundError';
  if (status === 503) return 'ServiceUnavailableError';
  if (status >= 500) return 'InternalServerError';
  return 'BadRequestError';
}

/** The JSON body of an error response: `{"error": {"message", "type", "param", "code"}}`. */
export function errorBody(
  status: number,
  message: string,
  param: string | null = null,
  type = errorType(status),
) {
  return { error: { message, type, param, code: status } };
}
