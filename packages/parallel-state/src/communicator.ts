/**
 * The collective-communication contract every rank of a group uses (what NCCL offers).
 *
 * It is asynchronous and generic over the buffer it moves: host typed arrays on the CPU
 * (`ThreadCommunicator`), device buffers on CUDA and WebGPU. Tensors are row-major; collectives
 * that work "along a dimension" take the tensor's shape and the dimension, and handle the
 * non-contiguous case (any `dim`, not only 0) themselves.
 *
 * Implementations here: `createLocalCommunicators` (members on one thread, for tests) and
 * `ThreadCommunicator` (members in worker threads, `@dcp/parallel-state/node`). Both keep the
 * order of calls issued without awaiting, reject with `CommunicatorError` instead of hanging
 * (mismatched calls, a member that died or never arrived), and reduce in float64 in member order
 * and round once, so every member of an all-reduce gets identical bits. As with NCCL, an input
 * must not be modified until its call settles; results are new buffers (except `recv`, which
 * fills and returns `output`).
 */

/**
 * Host buffers the CPU communicators move: f32, 16-bit float patterns, and int32. Reductions
 * read a Uint16Array as bf16, or as f16 when the communicator was created with
 * `halfFormat: 'f16'`.
 */
export type HostArray = Float32Array | Uint16Array | Int32Array;

/** Reductions supported by `allReduce` and `reduceScatter`. */
export type ReduceOp = 'sum' | 'max';

/**
 * One communication group (a TP, DCP or PP group, or the world). `rank` is the index of this
 * member inside the group, in `[0, size)`; every member must call the same collectives in the
 * same order with compatible shapes.
 */
export interface Communicator<B = HostArray> {
  /** This member's index in the group. */
  readonly rank: number;
  /** Number of members in the group. */
  readonly size: number;

  /**
   * Concatenates every member's `input` (row-major, of shape `shape`) along `dim`, ordered by
   * rank. The result has shape `shape` with `shape[dim] * size`.
   */
  allGather(input: B, shape: readonly number[], dim: number): Promise<B>;

  /**
   * Reduces every member's `input` element-wise (default `sum`), then member r keeps the r-th of
   * `size` equal slices along `dim` (`shape[dim]` must be divisible by `size`).
   */
  reduceScatter(input: B, shape: readonly number[], dim: number, op?: ReduceOp): Promise<B>;

  /** Element-wise reduction (default `sum`) over all members; every member gets the result. */
  allReduce(input: B, op?: ReduceOp): Promise<B>;

  /**
   * Splits `input` into `size` equal chunks along `dim`; chunk j goes to member j. The result
   * holds the chunks received from members 0..size-1, concatenated along `dim` (same shape as input).
   */
  allToAll(input: B, shape: readonly number[], dim: number): Promise<B>;

  /** Every member gets `root`'s buffer; non-root members pass a buffer of the same length. */
  broadcast(input: B, root: number): Promise<B>;

  /**
   * Point-to-point send to member `peer` (pipeline stages). Pairs with `recv` on the peer; may
   * resolve only once the peer has received it, so post both sides concurrently or in an order
   * where pairs meet.
   */
  send(input: B, peer: number): Promise<void>;

  /** Receives from member `peer` into `output` (same length as what was sent) and returns it. */
  recv(output: B, peer: number): Promise<B>;

  /** Resolves once every member has reached the barrier. */
  barrier(): Promise<void>;
}
