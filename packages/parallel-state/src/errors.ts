/** A parallel layout (tp, pp, dcp, ranks, heads, layers) that cannot exist; the message names the field. */
export class TopologyError extends Error {
  /** The offending field, e.g. `tp`, `dcp`, `rank`, `numHeads`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'TopologyError';
    this.field = field;
  }
}

/** Bad input to the DCP token-layout functions (positions, block tables, sizes); names the field. */
export class TokenLayoutError extends Error {
  /** The offending field, e.g. `positions[3]`, `blockSize`, `interleave`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'TokenLayoutError';
    this.field = field;
  }
}

/**
 * A collective that could not complete: mismatched calls across members, a member that died or
 * never arrived (timeout), bad shapes or buffers.
 */
export class CommunicatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommunicatorError';
  }
}
