import {
  type CollectiveCall,
  type CollectiveKind,
  CollectiveReceiver,
  callMismatch,
  describeCall,
} from './collective.js';
import type { Communicator, HostArray, ReduceOp } from './communicator.js';
import { CommunicatorError } from './errors.js';
import type { HalfFormat } from './half.js';
import { LocalMailbox } from './local-p2p.js';
import { checkHalf, hostDType } from './tensor.js';

/** Options of the in-process communicators. */
export interface LocalCommOptions {
  /** Name used in error messages (default `local`). */
  name?: string;
  /**
   * Milliseconds a member waits for the others in one collective or send/recv before it rejects
   * naming the members that never arrived (default 30 000; 0 disables the timeout).
   */
  timeoutMs?: number;
  /** How reductions read a Uint16Array: `bf16` (default) or `f16`. */
  halfFormat?: HalfFormat;
}

interface Pending {
  calls: (CollectiveCall | undefined)[];
  inputs: (HostArray | undefined)[];
  settle: ((err: Error | undefined, value?: HostArray) => void)[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** State shared by the members of one in-process group (closure data, one per group). */
class LocalHub {
  readonly pending = new Map<number, Pending>();
  readonly mail: LocalMailbox;
  constructor(
    readonly size: number,
    readonly name: string,
    readonly timeoutMs: number,
    readonly half: HalfFormat,
  ) {
    this.mail = new LocalMailbox(name, timeoutMs);
  }

  startTimer(onTimeout: () => void): ReturnType<typeof setTimeout> | undefined {
    return this.timeoutMs > 0 ? setTimeout(onTimeout, this.timeoutMs) : undefined;
  }
}

function rejectAll(p: Pending, err: Error): void {
  if (p.timer !== undefined) clearTimeout(p.timer);
  for (const s of p.settle) s?.(err);
}

/**
 * One member of an in-process group: every member lives on the same thread and a collective
 * completes when all members have entered it (run the members concurrently, e.g. with
 * `Promise.all`). Used by tests and the backend conformance suite to simulate W ranks.
 */
class LocalCommunicator implements Communicator<HostArray> {
  private seq = 0;
  constructor(
    private readonly hub: LocalHub,
    readonly rank: number,
  ) {}

  get size(): number {
    return this.hub.size;
  }

  private enter(
    kind: CollectiveKind,
    input: HostArray | undefined,
    shape?: readonly number[],
    dim = 0,
    op: ReduceOp = 'sum',
    root = 0,
  ): Promise<HostArray> {
    const call = describeCall(kind, this.size, input, shape, dim, op, root, this.hub.half);
    const hub = this.hub;
    const seq = this.seq++;
    let p = hub.pending.get(seq);
    if (!p) {
      const fresh: Pending = { calls: [], inputs: [], settle: [], timer: undefined };
      fresh.timer = hub.startTimer(() => {
        hub.pending.delete(seq);
        const missing = [...Array(hub.size).keys()].filter((m) => fresh.calls[m] === undefined);
        rejectAll(
          fresh,
          new CommunicatorError(
            `${hub.name}: collective #${seq} (${kind}) timed out after ${hub.timeoutMs} ms; member(s) ${missing.join(', ')} never arrived`,
          ),
        );
      });
      hub.pending.set(seq, fresh);
      p = fresh;
    }
    const pending = p;
    return new Promise<HostArray>((resolve, reject) => {
      pending.calls[this.rank] = call;
      pending.inputs[this.rank] = input === undefined ? undefined : input.slice();
      pending.settle[this.rank] = (err, value) => (err ? reject(err) : resolve(value!));
      for (let m = 0; m < hub.size; m++) if (pending.calls[m] === undefined) return;
      hub.pending.delete(seq);
      if (pending.timer !== undefined) clearTimeout(pending.timer);
      this.complete(seq, pending);
    });
  }

  private complete(seq: number, p: Pending): void {
    const hub = this.hub;
    const first = p.calls[0]!;
    for (let m = 1; m < hub.size; m++) {
      const diff = callMismatch(first, p.calls[m]!);
      if (diff) {
        rejectAll(
          p,
          new CommunicatorError(
            `${hub.name}: collective #${seq} does not match across members: member 0 vs member ${m}: ${diff}`,
          ),
        );
        return;
      }
    }
    // All-gather, all-reduce and broadcast give every member the same result: build it once.
    const same = first.kind === 'allGather' || first.kind === 'allReduce' || first.kind === 'broadcast';
    let shared: HostArray | undefined;
    for (let r = 0; r < hub.size; r++) {
      if (same && shared) {
        p.settle[r]!(undefined, shared.slice());
        continue;
      }
      const like = p.inputs[r] ?? new Float32Array(0);
      const recv = new CollectiveReceiver(first, hub.size, r, like);
      for (let m = 0; m < hub.size; m++) recv.take(m, p.inputs[m]!, 0);
      shared = recv.result();
      p.settle[r]!(undefined, shared);
    }
  }

  async allGather(input: HostArray, shape: readonly number[], dim: number): Promise<HostArray> {
    return this.enter('allGather', input, shape, dim);
  }
  async reduceScatter(
    input: HostArray,
    shape: readonly number[],
    dim: number,
    op?: ReduceOp,
  ): Promise<HostArray> {
    return this.enter('reduceScatter', input, shape, dim, op);
  }
  async allReduce(input: HostArray, op?: ReduceOp): Promise<HostArray> {
    return this.enter('allReduce', input, undefined, 0, op);
  }
  async allToAll(input: HostArray, shape: readonly number[], dim: number): Promise<HostArray> {
    return this.enter('allToAll', input, shape, dim);
  }
  async broadcast(input: HostArray, root: number): Promise<HostArray> {
    return this.enter('broadcast', input, undefined, 0, 'sum', root);
  }
  async barrier(): Promise<void> {
    await this.enter('barrier', undefined);
  }

  private checkPeer(peer: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.size || peer === this.rank) {
      throw new CommunicatorError(
        `peer: must be another member in [0, ${this.size}) (this is ${this.rank}), got ${String(peer)}`,
      );
    }
  }

  /** Resolves once member `peer` has received it (a rendezvous, like the thread communicator). */
  async send(input: HostArray, peer: number): Promise<void> {
    this.checkPeer(peer);
    hostDType(input);
    return this.hub.mail.send(this.rank, peer, input);
  }

  async recv(output: HostArray, peer: number): Promise<HostArray> {
    this.checkPeer(peer);
    hostDType(output, 'output');
    return this.hub.mail.recv(peer, this.rank, output);
  }
}

/**
 * Creates the `size` members of one in-process group (same thread, promises only). Run the members
 * concurrently (`Promise.all`); each collective resolves once every member has entered it.
 */
export function createLocalCommunicators(
  size: number,
  options: LocalCommOptions = {},
): Communicator<HostArray>[] {
  if (!Number.isInteger(size) || size < 1) {
    throw new CommunicatorError(`size: must be an integer >= 1, got ${String(size)}`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!(timeoutMs >= 0)) throw new CommunicatorError(`timeoutMs: must be >= 0, got ${String(timeoutMs)}`);
  const hub = new LocalHub(size, options.name ?? 'local', timeoutMs, checkHalf(options.halfFormat ?? 'bf16'));
  return Array.from({ length: size }, (_, r) => new LocalCommunicator(hub, r));
}
