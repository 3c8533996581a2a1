import { CommunicatorError } from './errors.js';
import type { HalfFormat } from './half.js';
import { checkHalf } from './tensor.js';
import type { Topology } from './topology.js';

/** Tuning of the shared-memory communicators. */
export interface ThreadCommOptions {
  /**
   * Milliseconds a member waits for the others in one step of a collective (or a peer in
   * send/recv) before every waiting member rejects naming who never arrived. Default 120 000:
   * long enough for 8 ranks time-sharing 2 cores. A dead rank is reported at once, not after this.
   */
  timeoutMs?: number;
  /** Bytes each member stages per step of a collective (larger tensors go in several steps). Default 256 KiB. */
  slotBytes?: number;
  /** Bytes of each point-to-point channel (larger messages go in several chunks). Default 64 KiB. */
  p2pBytes?: number;
  /** How reductions read a Uint16Array: `bf16` (default) or `f16`. */
  halfFormat?: HalfFormat;
}

/** Shared memory of one group. Plain data: it travels in `workerData`. */
export interface ThreadGroupState {
  /** Name used in errors, e.g. `world`, `tp0`, `dcp1`, `pp3`. */
  name: string;
  /** Global ranks of the members, in member order. */
  ranks: number[];
  /** Int32 words: notify counter, broken flag, arrival phase per member, call descriptors. */
  control: SharedArrayBuffer;
  /** Staging slots: 2 sets × members × `slotBytes`. */
  slots: SharedArrayBuffer;
  /** Int32 words per ordered member pair: sent, acknowledged, chunk length, total length, dtype. */
  p2pControl: SharedArrayBuffer;
  /** Channel data: members² × `p2pBytes`. */
  p2pData: SharedArrayBuffer;
}

/**
 * Everything the ranks of one job share, created once by the main thread and passed to every
 * worker in `workerData` (SharedArrayBuffers are shared, not copied). Each worker then builds its
 * communicators with `threadGroupsFor(state, rank)`.
 */
export interface ThreadCommState {
  worldSize: number;
  timeoutMs: number;
  slotBytes: number;
  p2pBytes: number;
  halfFormat: HalfFormat;
  /** Int32 `[2 * worldSize]`: per rank, 0 = alive or 1 = exited, then its exit code. */
  liveness: SharedArrayBuffer;
  world: ThreadGroupState;
  tp: ThreadGroupState[];
  dcp: ThreadGroupState[];
  pp: ThreadGroupState[];
}

/** Words of one call descriptor (kind, dtype, length, dim, op, root, shape rank, 8 dims, hash). */
export const DESC_WORDS = 16;
/** Control words: [0] notify counter, [1] broken flag, then arrivals, then 2 descriptor sets. */
export const CTRL_COUNTER = 0;
export const CTRL_BROKEN = 1;
export const CTRL_ARRIVE = 2;
/** Words per point-to-point channel. */
export const P2P_WORDS = 8;
export const P2P_SENT = 0;
export const P2P_ACKED = 1;
export const P2P_CHUNK = 2;
export const P2P_TOTAL = 3;
export const P2P_DTYPE = 4;

function intOption(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min)
    throw new CommunicatorError(`${name}: must be an integer >= ${min}, got ${v}`);
  return v;
}

function groupState(name: string, ranks: number[], slotBytes: number, p2pBytes: number): ThreadGroupState {
  const s = ranks.length;
  return {
    name,
    ranks: [...ranks],
    control: new SharedArrayBuffer(4 * (CTRL_ARRIVE + s + 2 * s * DESC_WORDS)),
    slots: new SharedArrayBuffer(2 * s * slotBytes),
    p2pControl: new SharedArrayBuffer(4 * P2P_WORDS * s * s),
    p2pData: new SharedArrayBuffer(s > 1 ? s * s * p2pBytes : 0),
  };
}

/** Creates the shared memory of a job laid out as `topology` (on the main thread, before the workers). */
export function createThreadCommState(topology: Topology, options: ThreadCommOptions = {}): ThreadCommState {
  const timeoutMs = intOption('timeoutMs', options.timeoutMs, 120_000, 1);
  const slotBytes = intOption('slotBytes', options.slotBytes, 256 * 1024, 64);
  const p2pBytes = intOption('p2pBytes', options.p2pBytes, 64 * 1024, 64);
  if (slotBytes % 8 !== 0)
    throw new CommunicatorError(`slotBytes: must be a multiple of 8, got ${slotBytes}`);
  if (p2pBytes % 8 !== 0) throw new CommunicatorError(`p2pBytes: must be a multiple of 8, got ${p2pBytes}`);
  if (topology.worldSize > 255) {
    throw new CommunicatorError(
      `topology: thread communicators hold at most 255 ranks, got ${topology.worldSize}`,
    );
  }
  const all = Array.from({ length: topology.worldSize }, (_, r) => r);
  const make = (kind: string, groups: number[][]) =>
    groups.map((g, i) => groupState(`${kind}${i}`, g, slotBytes, p2pBytes));
  return {
    worldSize: topology.worldSize,
    timeoutMs,
    slotBytes,
    p2pBytes,
    halfFormat: checkHalf(options.halfFormat ?? 'bf16'),
    liveness: new SharedArrayBuffer(8 * topology.worldSize),
    world: groupState('world', all, slotBytes, p2pBytes),
    tp: make('tp', topology.tpGroups),
    dcp: make('dcp', topology.dcpGroups),
    pp: make('pp', topology.ppGroups),
  };
}

/** Every group of the state (world first). */
export function allGroups(state: ThreadCommState): ThreadGroupState[] {
  return [state.world, ...state.tp, ...state.dcp, ...state.pp];
}

/**
 * Records that `rank`'s thread has exited (call it from the worker's `exit` event on the main
 * thread) and wakes every waiting member, so the others reject at once naming it.
 */
export function reportRankExit(state: ThreadCommState, rank: number, exitCode: number): void {
  if (!Number.isInteger(rank) || rank < 0 || rank >= state.worldSize) {
    throw new CommunicatorError(`rank: must be an integer in [0, ${state.worldSize}), got ${String(rank)}`);
  }
  const live = new Int32Array(state.liveness);
  Atomics.store(live, 2 * rank + 1, exitCode | 0);
  Atomics.store(live, 2 * rank, 1);
  for (const g of allGroups(state)) {
    if (!g.ranks.includes(rank)) continue;
    const ctl = new Int32Array(g.control);
    Atomics.add(ctl, CTRL_COUNTER, 1);
    Atomics.notify(ctl, CTRL_COUNTER);
    const p2p = new Int32Array(g.p2pControl);
    for (let w = 0; w < p2p.length; w += P2P_WORDS) {
      Atomics.notify(p2p, w + P2P_SENT);
      Atomics.notify(p2p, w + P2P_ACKED);
    }
  }
}

/** Exit status of `rank`: undefined while it runs, else its exit code. */
export function rankExitCode(state: ThreadCommState, rank: number): number | undefined {
  const live = new Int32Array(state.liveness);
  return Atomics.load(live, 2 * rank) === 0 ? undefined : Atomics.load(live, 2 * rank + 1);
}

/** Something with an `exit` event, such as a `worker_threads` Worker. */
export interface ExitEmitter {
  on(event: 'exit', listener: (exitCode: number) => void): unknown;
}

/** Calls `reportRankExit` when `workers[r]` exits (worker r runs rank r). */
export function watchWorkers(state: ThreadCommState, workers: readonly ExitEmitter[]): void {
  workers.forEach((w, rank) => {
    w.on('exit', (code) => reportRankExit(state, rank, code));
  });
}
