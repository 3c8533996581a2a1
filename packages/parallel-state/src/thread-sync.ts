import type { CollectiveCall, CollectiveKind } from './collective.js';
import type { HostArray } from './communicator.js';
import { CommunicatorError } from './errors.js';
import type { HostDType } from './tensor.js';
import {
  CTRL_ARRIVE,
  CTRL_BROKEN,
  CTRL_COUNTER,
  DESC_WORDS,
  rankExitCode,
  type ThreadCommState,
  type ThreadGroupState,
} from './thread-state.js';

type WaitResult = { async: false; value: string } | { async: true; value: Promise<string> };
type WaitAsync = (view: Int32Array, index: number, value: number, timeoutMs: number) => WaitResult;

const KINDS: CollectiveKind[] = [
  'allGather',
  'reduceScatter',
  'allReduce',
  'allToAll',
  'broadcast',
  'barrier',
];
/** Codes of the element types in shared words. */
export const DTYPES: HostDType[] = ['f32', 'bf16', 'i32', 'f16'];
const DESC_FIELDS = ['kind', 'dtype', 'length', 'dim', 'op', 'root', 'shape'];
const BROKEN_REASONS = [
  '',
  'a member died',
  'a timeout waiting',
  'mismatched calls',
  'a send/recv size mismatch',
];
/** Longest single sleep; waiters re-check liveness, the broken flag and the deadline this often. */
const SLICE_MS = 250;

/** Why a group broke (stored in its shared broken word). */
export const BROKEN_DIED = 1;
export const BROKEN_TIMEOUT = 2;
export const BROKEN_MISMATCH = 3;
export const BROKEN_P2P = 4;

/** Bytes per element. */
export function bytesPer(dtype: HostDType): number {
  return dtype === 'bf16' || dtype === 'f16' ? 2 : 4;
}

/** A typed view of `length` elements at `byteOffset` of shared memory. */
export function sharedView(
  dtype: HostDType,
  buf: SharedArrayBuffer,
  byteOffset: number,
  length: number,
): HostArray {
  if (dtype === 'f32') return new Float32Array(buf, byteOffset, length);
  if (dtype === 'bf16' || dtype === 'f16') return new Uint16Array(buf, byteOffset, length);
  return new Int32Array(buf, byteOffset, length);
}

function encode(call: CollectiveCall, out: Int32Array, at: number): void {
  const sh = call.shape;
  let hash = 0x811c9dc5;
  for (const s of sh) hash = Math.imul(hash ^ s, 0x01000193);
  const words = [
    KINDS.indexOf(call.kind),
    DTYPES.indexOf(call.dtype),
    call.length,
    call.split.dim,
    call.op === 'max' ? 1 : 0,
    call.root,
    sh.length,
  ];
  for (let k = 0; k < 8; k++) words.push(sh[k] ?? 0);
  words.push(hash | 0);
  out.set(words, at);
}

/**
 * One member's side of a group's shared synchronisation: the phase barrier, call descriptors,
 * bounded waits, liveness checks and the broken flag. Every wait re-checks, at least every
 * SLICE_MS, whether the group broke, whether a member it waits for has exited, and its deadline.
 */
export class GroupSync {
  readonly size: number;
  readonly ctl: Int32Array;
  private readonly descBase: number;
  /** Number of phases this member has arrived at (resumed from shared memory). */
  phase: number;
  private readonly waitAsync: WaitAsync | undefined;

  constructor(
    readonly state: ThreadCommState,
    readonly group: ThreadGroupState,
    readonly rank: number,
  ) {
    this.size = group.ranks.length;
    this.ctl = new Int32Array(group.control);
    this.descBase = CTRL_ARRIVE + this.size;
    // Resume from the shared arrival count, so a re-created member stays in step with the others.
    this.phase = Atomics.load(this.ctl, CTRL_ARRIVE + rank);
    this.waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  }

  get name(): string {
    return this.group.name;
  }

  /** Writes this member's descriptor of `call` into descriptor set `set`. */
  writeDescriptor(call: CollectiveCall, set: number): void {
    encode(call, this.ctl, this.descBase + (set * this.size + this.rank) * DESC_WORDS);
  }

  /**
   * Marks the group broken (first failure wins: reason, the member at fault, who saw it), wakes
   * every waiter and throws. Later calls on any member fail fast with the same story.
   */
  fail(reason: number, culprit: number, message: string): never {
    const word = (reason << 16) | ((culprit + 1) << 8) | (this.rank + 1);
    Atomics.compareExchange(this.ctl, CTRL_BROKEN, 0, word);
    Atomics.add(this.ctl, CTRL_COUNTER, 1);
    Atomics.notify(this.ctl, CTRL_COUNTER);
    throw new CommunicatorError(message);
  }

  checkBroken(what: string): void {
    const b = Atomics.load(this.ctl, CTRL_BROKEN);
    if (b === 0) return;
    const by = (b & 255) - 1;
    const culprit = ((b >> 8) & 255) - 1;
    const rank = this.group.ranks[culprit];
    const code = rank === undefined ? undefined : rankExitCode(this.state, rank);
    const story =
      b >> 16 === 1 && code !== undefined
        ? `rank ${rank} (member ${culprit}) exited with code ${code}`
        : `${BROKEN_REASONS[b >> 16] ?? 'a failure'} involving rank ${rank} (member ${culprit})`;
    throw new CommunicatorError(
      `group ${this.name}: ${what} on member ${this.rank} cannot run: ${story}, first seen by member ${by}; the group is unusable`,
    );
  }

  /** Waits until `done()`, sleeping on `view[index]`; `check()` throws to abort. */
  async waitUntil(view: Int32Array, index: number, done: () => boolean, check: () => void): Promise<void> {
    for (;;) {
      const seen = Atomics.load(view, index);
      if (done()) return;
      check();
      if (this.waitAsync) {
        const r = this.waitAsync(view, index, seen, SLICE_MS);
        if (r.async) {
          // A pending waitAsync does not keep Node's event loop alive; a timer does.
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            r.value,
            new Promise((resolve) => (timer = setTimeout(resolve, SLICE_MS + 50))),
          ]);
          clearTimeout(timer);
        }
      } else {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }

  /** Throws for a missing member that has exited, or once `deadline` passes. */
  checkMissing(missing: () => number[], what: string, deadline: number): void {
    this.checkBroken(what);
    for (const m of missing()) {
      const code = rankExitCode(this.state, this.group.ranks[m]!);
      if (code !== undefined) {
        this.fail(
          BROKEN_DIED,
          m,
          `group ${this.name}: rank ${this.group.ranks[m]} (member ${m}) exited with code ${code} while member ${this.rank} waited for it in ${what}`,
        );
      }
    }
    if (Date.now() > deadline) {
      const ms = missing();
      this.fail(
        BROKEN_TIMEOUT,
        ms[0] ?? 0,
        `group ${this.name}: ${what} timed out after ${this.state.timeoutMs} ms on member ${this.rank}; member(s) ${ms.join(', ')} (rank ${ms.map((m) => this.group.ranks[m]).join(', ')}) never arrived`,
      );
    }
  }

  async arriveAndWait(what: string): Promise<void> {
    const phase = ++this.phase;
    const ctl = this.ctl;
    Atomics.store(ctl, CTRL_ARRIVE + this.rank, phase);
    Atomics.add(ctl, CTRL_COUNTER, 1);
    Atomics.notify(ctl, CTRL_COUNTER);
    const missing = () => {
      const out: number[] = [];
      for (let m = 0; m < this.size; m++)
        if (((Atomics.load(ctl, CTRL_ARRIVE + m) - phase) | 0) < 0) out.push(m);
      return out;
    };
    const deadline = Date.now() + this.state.timeoutMs;
    await this.waitUntil(
      ctl,
      CTRL_COUNTER,
      () => missing().length === 0,
      () => this.checkMissing(missing, what, deadline),
    );
  }

  checkDescriptors(set: number, seq: string): void {
    const base = this.descBase + set * this.size * DESC_WORDS;
    const ref = this.ctl.subarray(base, base + DESC_WORDS);
    for (let m = 1; m < this.size; m++) {
      const other = this.ctl.subarray(base + m * DESC_WORDS, base + (m + 1) * DESC_WORDS);
      const k = ref.findIndex((w, i) => w !== other[i]);
      if (k < 0) continue;
      const field = DESC_FIELDS[Math.min(k, 6)]!;
      const show = (d: Int32Array) =>
        field === 'kind'
          ? KINDS[d[0]!]
          : field === 'dtype'
            ? DTYPES[d[1]!]
            : field === 'shape'
              ? `[${Array.from(d.subarray(7, 7 + Math.min(d[6]!, 8))).join(',')}${d[6]! > 8 ? ',...' : ''}]`
              : String(d[k]);
      this.fail(
        BROKEN_MISMATCH,
        m,
        `group ${this.name}: ${seq} does not match across members: ${field} ${show(ref)} on member 0 vs ${show(other)} on member ${m}`,
      );
    }
  }
}
