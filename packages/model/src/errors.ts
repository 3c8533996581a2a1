/** A model input, config or rank layout the model cannot use; `field` names what is wrong. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A checkpoint that does not fit the config: a missing tensor, a wrong shape, an unsupported dtype. */
export class WeightLoadError extends Error {
  override readonly name = 'WeightLoadError';
  constructor(
    readonly tensor: string,
    message: string,
  ) {
    super(`${tensor}: ${message}`);
  }
}
