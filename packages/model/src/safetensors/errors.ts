/**
 * A safetensors file or checkpoint folder that cannot be read as asked: a malformed or hostile
 * header, a missing tensor, a bad slice, a short read. `file` names the file (or the index), and
 * `tensor` the tensor when one is concerned.
 */
export class SafetensorsError extends Error {
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, message: string, tensor?: string) {
    super(`${file}${tensor === undefined ? '' : ` [${tensor}]`}: ${message}`);
    this.name = 'SafetensorsError';
    this.file = file;
    this.tensor = tensor;
  }
}
