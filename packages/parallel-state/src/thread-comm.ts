import { type CollectiveKind, CollectiveReceiver, contributes, describeCall } from './collective.js';
import type { Communicator, HostArray, ReduceOp } from './communicator.js';
import { CommunicatorError } from './errors.js';
import type { RankGroups } from './local-groups.js';
import { allocLike, hostDType } from './tensor.js';
import { recvFrom, sendTo } from './thread-p2p.js';
import type { ThreadCommState, ThreadGroupState } from './thread-state.js';
import { bytesPer, GroupSync, sharedView } from './thread-sync.js';

/** All-reduces below this many elements run in one step (each member reduces everything). */
const DIRECT_ALL_REDUCE = 4096;

/**
 * A member of one group whose ranks are threads (`worker_threads`) of one process. Data moves
 * through SharedArrayBuffer slots; members wait with `Atomics.waitAsync`, so a collective never
 * blocks the thread's event loop. Every wait is bounded: a member that exited (reported by the
 * main thread through `reportRankExit`) makes the others reject at once, one that never arrives
 * makes them reject after `timeoutMs`, and the group is then marked broken.
 *
 * A collective moves in steps of at most `slotBytes` per member: each member copies its piece
 * into its slot (two alternating slot sets), arrives at the group's phase barrier, then reads
 * what it needs from every member's slot.
 */
export class ThreadCommunicator implements Communicator<HostArray> {
  readonly rank: number;
  readonly size: number;
  private readonly sync: GroupSync;
  /** Tail of each ordered stream of calls: `c` for collectives, `s<peer>` / `r<peer>` for send / recv. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Joins `group` (one of `state`'s groups) as global rank `worldRank`. */
  constructor(
    state: ThreadCommState,
    private readonly group: ThreadGroupState,
    readonly worldRank: number,
  ) {
    const member = group.ranks.indexOf(worldRank);
    if (member < 0) {
      throw new CommunicatorError(`worldRank: rank ${worldRank} is not a member of group ${group.name}`);
    }
    this.rank = member;
    this.size = group.ranks.length;
    this.sync = new GroupSync(state, group, member);
  }

  /** The group's name, e.g. `tp0`. */
  get name(): string {
    return this.group.name;
  }

  private async run(
    kind: CollectiveKind,
    input: HostArray | undefined,
    shape?: readonly number[],
    dim = 0,
    op: ReduceOp = 'sum',
    root = 0,
  ): Promise<HostArray> {
    this.sync.checkBroken(kind);
    const call = describeCall(kind, this.size, input, shape, dim, op, root, this.sync.state.halfFormat);
    const sync = this.sync;
    const { slotBytes } = sync.state;
    const slots = this.group.slots;
    const per = Math.floor(slotBytes / bytesPer(call.dtype));
    const steps = Math.max(1, Math.ceil(call.length / per));
    const like = input ?? new Float32Array(0);
    const recv = new CollectiveReceiver(call, this.size, this.rank, like);
    const what = `${kind} (step ${sync.phase + 1})`;
    for (let k = 0; k < steps; k++) {
      const set = (sync.phase + 1) & 1;
      const start = k * per;
      const count = Math.min(per, call.length - start);
      if (k === 0) sync.writeDescriptor(call, set);
      if (input && contributes(call, this.rank) && count > 0) {
        const at = (set * this.size + this.rank) * slotBytes;
        sharedView(call.dtype, slots, at, count).set(input.subarray(start, start + count));
      }
      await sync.arriveAndWait(what);
      if (k === 0) sync.checkDescriptors(set, what);
      if (count <= 0) continue;
      for (let m = 0; m < this.size; m++) {
        if (!contributes(call, m)) continue;
        recv.take(m, sharedView(call.dtype, slots, (set * this.size + m) * slotBytes, count), start);
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

  /**
   * Sends `input` to member `peer`; resolves once the peer has received all of it (a rendezvous:
   * post the matching `recv` concurrently, or order sends and recvs so that pairs meet).
   */
  send(input: HostArray, peer: number): Promise<void> {
    return this.chain(`s${peer}`, () => sendTo(this.sync, input, peer));
  }

  /** Receives from member `peer` into `output` (same length and type as what was sent). */
  recv(output: HostArray, peer: number): Promise<HostArray> {
    return this.chain(`r${peer}`, () => recvFrom(this.sync, output, peer));
  }
}

/**
 * The communicators global rank `rank` uses in a job sharing `state`: world, TP, DCP and PP
 * groups. Call it once per rank (two live instances for one member would share its slot).
 */
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
