import {
  type CollectiveCall,
  type CollectiveKind,
  CollectiveReceiver,
  contributes,
  describeCall,
} from './collective.js';
import type { Communicator, HostArray, ReduceOp } from './communicator.js';
import { CommunicatorError } from './errors.js';
import type { RankGroups } from './local.js';
import { allocLike, type HostDType, hostDType } from './tensor.js';
import {
  CTRL_ARRIVE,
  CTRL_BROKEN,
  CTRL_COUNTER,
  DESC_WORDS,
  P2P_ACKED,
  P2P_CHUNK,
  P2P_DTYPE,
  P2P_SENT,
  P2P_TOTAL,
  P2P_WORDS,
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
const DTYPES: HostDType[] = ['f32', 'bf16', 'i32'];
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
/** All-reduces below this many elements run in one step (each member reduces everything). */
const DIRECT_ALL_REDUCE = 4096;

function bytesPer(dtype: HostDType): number {
  return dtype === 'bf16' ? 2 : 4;
}

function view(dtype: HostDType, buf: SharedArrayBuffer, byteOffset: number, length: number): HostArray {
  if (dtype === 'f32') return new Float32Array(buf, byteOffset, length);
  if (dtype === 'bf16') return new Uint16Array(buf, byteOffset, length);
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
 * A member of one group whose ranks are threads (`worker_threads`) of one process. Data moves
 * through SharedArrayBuffer slots; members wait with `Atomics.waitAsync`, so a collective never
 * blocks the thread's event loop. Every wait is bounded: a member that exited (reported by the
 * main thread through `reportRankExit`) makes the others reject at once, one that never arrives
 * makes them reject after `timeoutMs`, and the group is then marked broken.
 */
export class ThreadCommunicator implements Communicator<HostArray> {
  readonly rank: number;
  readonly size: number;
  private readonly ctl: Int32Array;
  private readonly p2p: Int32Array;
  private readonly descBase: number;
  private phase: number;
  private readonly waitAsync: WaitAsync | undefined;
  /** Tail of each ordered stream of calls: `c` for collectives, `s<peer>` / `r<peer>` for send / recv. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Joins `group` (one of `state`'s groups) as global rank `worldRank`. */
  constructor(
    private readonly state: ThreadCommState,
    private readonly group: ThreadGroupState,
    readonly worldRank: number,
  ) {
    const member = group.ranks.indexOf(worldRank);
    if (member < 0) {
      throw new CommunicatorError(`worldRank: rank ${worldRank} is not a member of group ${group.name}`);
    }
    this.rank = member;
    this.size = group.ranks.length;
    this.ctl = new Int32Array(group.control);
    this.p2p = new Int32Array(group.p2pControl);
    this.descBase = CTRL_ARRIVE + this.size;
    // Resume from the shared arrival count, so a re-created member stays in step with the others.
    this.phase = Atomics.load(this.ctl, CTRL_ARRIVE + member);
    this.waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  }

  /** The group's name, e.g. `tp0`. */
  get name(): string {
    return this.group.name;
  }

  /**
   * Marks the group broken (first failure wins: reason, the member at fault, who saw it), wakes
   * every waiter and throws. Later calls on any member fail fast with the same story.
   */
  private fail(reason: number, culprit: number, message: string): never {
    const word = (reason << 16) | ((culprit + 1) << 8) | (this.rank + 1);
    Atomics.compareExchange(this.ctl, CTRL_BROKEN, 0, word);
    Atomics.add(this.ctl, CTRL_COUNTER, 1);
    Atomics.notify(this.ctl, CTRL_COUNTER);
    throw new CommunicatorError(message);
  }

  private checkBroken(what: string): void {
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
  private async waitUntil(
    view: Int32Array,
    index: number,
    done: () => boolean,
    check: () => void,
  ): Promise<void> {
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
  private checkMissing(missing: () => number[], what: string, deadline: number): void {
    this.checkBroken(what);
    for (const m of missing()) {
      const code = rankExitCode(this.state, this.group.ranks[m]!);
      if (code !== undefined) {
        this.fail(
          1,
          m,
          `group ${this.name}: rank ${this.group.ranks[m]} (member ${m}) exited with code ${code} while member ${this.rank} waited for it in ${what}`,
        );
      }
    }
    if (Date.now() > deadline) {
      const ms = missing();
      this.fail(
        2,
        ms[0] ?? 0,
        `group ${this.name}: ${what} timed out after ${this.state.timeoutMs} ms on member ${this.rank}; member(s) ${ms.join(', ')} (rank ${ms.map((m) => this.group.ranks[m]).join(', ')}) never arrived`,
      );
    }
  }

  private async arriveAndWait(what: string): Promise<void> {
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

  private checkDescriptors(set: number, seq: string): void {
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
        3,
        m,
        `group ${this.name}: ${seq} does not match across members: ${field} ${show(ref)} on member 0 vs ${show(other)} on member ${m}`,
      );
    }
  }

  private async run(
    kind: CollectiveKind,
    input: HostArray | undefined,
    shape?: readonly number[],
    dim = 0,
    op: ReduceOp = 'sum',
    root = 0,
  ): Promise<HostArray> {
    this.checkBroken(kind);
    const call = describeCall(kind, this.size, input, shape, dim, op, root);
    const { slotBytes } = this.state;
    const slots = this.group.slots;
    const per = Math.floor(slotBytes / bytesPer(call.dtype));
    const steps = Math.max(1, Math.ceil(call.length / per));
    const like = input ?? new Float32Array(0);
    const recv = new CollectiveReceiver(call, this.size, this.rank, like);
    const what = `${kind} (step ${this.phase + 1})`;
    for (let k = 0; k < steps; k++) {
      const set = (this.phase + 1) & 1;
      const start = k * per;
      const count = Math.min(per, call.length - start);
      if (k === 0) encode(call, this.ctl, this.descBase + (set * this.size + this.rank) * DESC_WORDS);
      if (input && contributes(call, this.rank) && count > 0) {
        const at = (set * this.size + this.rank) * slotBytes;
        view(call.dtype, slots, at, count).set(input.subarray(start, start + count));
      }
      await this.arriveAndWait(what);
      if (k === 0) this.checkDescriptors(set, what);
      if (count <= 0) continue;
      for (let m = 0; m < this.size; m++) {
        if (!contributes(call, m)) continue;
        recv.take(m, view(call.dtype, slots, (set * this.size + m) * slotBytes, count), start);
      }
    }
    return recv.result();
  }

  /**
   * Runs `fn` after the earlier calls of the same stream, so calls issued without awaiting keep
   * their order (collectives in one stream; send and recv per peer, independent of each other so
   * that an exchange can post both at once).
   */
  private chain<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    this.tails.set(
      key,
      next.catch(() => {}),
    );
    return next;
  }

  allGather(input: HostArray, shape: readonly number[], dim: number): Promise<HostArray> {
    return this.chain('c', () => this.run('allGather', input, shape, dim));
  }
  reduceScatter(input: HostArray, shape: readonly number[], dim: number, op?: ReduceOp): Promise<HostArray> {
    return this.chain('c', () => this.run('reduceScatter', input, shape, dim, op));
  }
  /**
   * Small tensors: every member reduces everything in one step. Larger ones: a reduce-scatter
   * (each member reduces 1/size of the elements) then an all-gather, so the work does not grow
   * with size². Both round once from float64, so every member gets identical bits.
   */
  allReduce(input: HostArray, op?: ReduceOp): Promise<HostArray> {
    return this.chain('c', async () => {
      const n = input?.length ?? 0;
      const w = this.size;
      if (w === 1 || n < DIRECT_ALL_REDUCE || !(input instanceof Object)) {
        return this.run('allReduce', input, undefined, 0, op);
      }
      hostDType(input);
      const per = Math.ceil(n / w);
      let padded = input;
      if (per * w !== n) {
        padded = allocLike(input, per * w);
        padded.set(input);
      }
      const mine = await this.run('reduceScatter', padded, [w, per], 0, op);
      const all = await this.run('allGather', mine, [1, per], 0);
      return all.length === n ? all : all.slice(0, n);
    });
  }
  allToAll(input: HostArray, shape: readonly number[], dim: number): Promise<HostArray> {
    return this.chain('c', () => this.run('allToAll', input, shape, dim));
  }
  broadcast(input: HostArray, root: number): Promise<HostArray> {
    return this.chain('c', () => this.run('broadcast', input, undefined, 0, 'sum', root));
  }
  async barrier(): Promise<void> {
    await this.chain('c', () => this.run('barrier', undefined));
  }

  private channel(from: number, to: number, peer: number, what: string) {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.size || peer === this.rank) {
      throw new CommunicatorError(
        `peer: must be another member of ${this.name} in [0, ${this.size}) (this is ${this.rank}), got ${String(peer)}`,
      );
    }
    const c = (from * this.size + to) * P2P_WORDS;
    const deadlineFrom = () => Date.now() + this.state.timeoutMs;
    const wait = (done: () => boolean) => {
      const deadline = deadlineFrom();
      return this.waitUntil(this.p2p, c + (from === this.rank ? P2P_ACKED : P2P_SENT), done, () =>
        this.checkMissing(() => [peer], what, deadline),
      );
    };
    const dataAt = (from * this.size + to) * this.state.p2pBytes;
    return { c, wait, dataAt };
  }

  /**
   * Sends `input` to member `peer`; resolves once the peer has received all of it (a rendezvous:
   * post the matching `recv` concurrently, or order sends and recvs so that pairs meet).
   */
  send(input: HostArray, peer: number): Promise<void> {
    return this.chain(`s${peer}`, () => this.sendNow(input, peer));
  }

  /** Receives from member `peer` into `output` (same length and type as what was sent). */
  recv(output: HostArray, peer: number): Promise<HostArray> {
    return this.chain(`r${peer}`, () => this.recvNow(output, peer));
  }

  private async sendNow(input: HostArray, peer: number): Promise<void> {
    const what = `send to member ${peer}`;
    this.checkBroken(what);
    const dtype = hostDType(input);
    const { c, wait, dataAt } = this.channel(this.rank, peer, peer, what);
    const p2p = this.p2p;
    const per = Math.floor(this.state.p2pBytes / bytesPer(dtype));
    const steps = Math.max(1, Math.ceil(input.length / per));
    const drained = () => Atomics.load(p2p, c + P2P_ACKED) === Atomics.load(p2p, c + P2P_SENT);
    for (let k = 0; k < steps; k++) {
      await wait(drained);
      const start = k * per;
      const count = Math.min(per, input.length - start);
      view(dtype, this.group.p2pData, dataAt, count).set(input.subarray(start, start + count));
      Atomics.store(p2p, c + P2P_CHUNK, count);
      Atomics.store(p2p, c + P2P_TOTAL, input.length);
      Atomics.store(p2p, c + P2P_DTYPE, DTYPES.indexOf(dtype));
      Atomics.add(p2p, c + P2P_SENT, 1);
      Atomics.notify(p2p, c + P2P_SENT);
    }
    await wait(drained);
  }

  private async recvNow(output: HostArray, peer: number): Promise<HostArray> {
    const what = `recv from member ${peer}`;
    this.checkBroken(what);
    const dtype = hostDType(output, 'output');
    const { c, wait, dataAt } = this.channel(peer, this.rank, peer, what);
    const p2p = this.p2p;
    const per = Math.floor(this.state.p2pBytes / bytesPer(dtype));
    const steps = Math.max(1, Math.ceil(output.length / per));
    const ready = () => Atomics.load(p2p, c + P2P_SENT) !== Atomics.load(p2p, c + P2P_ACKED);
    for (let k = 0; k < steps; k++) {
      await wait(ready);
      const total = Atomics.load(p2p, c + P2P_TOTAL);
      const sentType = DTYPES[Atomics.load(p2p, c + P2P_DTYPE)];
      if (total !== output.length || sentType !== dtype) {
        this.fail(
          4,
          peer,
          `group ${this.name}: ${what}: member ${peer} sent ${total} ${sentType} elements, member ${this.rank} expects ${output.length} ${dtype}`,
        );
      }
      const count = Atomics.load(p2p, c + P2P_CHUNK);
      output.set(view(dtype, this.group.p2pData, dataAt, count), k * per);
      Atomics.add(p2p, c + P2P_ACKED, 1);
      Atomics.notify(p2p, c + P2P_ACKED);
    }
    return output;
  }
}

/** The communicators global rank `rank` uses in a job sharing `state`: world, TP, DCP and PP groups. */
export function threadGroupsFor(state: ThreadCommState, rank: number): RankGroups<ThreadCommunicator> {
  if (!Number.isInteger(rank) || rank < 0 || rank >= state.worldSize) {
    throw new CommunicatorError(`rank: must be an integer in [0, ${state.worldSize}), got ${String(rank)}`);
  }
  const pick = (groups: ThreadGroupState[], kind: string) => {
    const g = groups.find((x) => x.ranks.includes(rank));
    if (!g) throw new CommunicatorError(`state: no ${kind} group holds rank ${rank}`);
    return new ThreadCommunicator(state, g, rank);
  };
  return {
    world: new ThreadCommunicator(state, state.world, rank),
    tp: pick(state.tp, 'tp'),
    dcp: pick(state.dcp, 'dcp'),
    pp: pick(state.pp, 'pp'),
  };
}
