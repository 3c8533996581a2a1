import type { HostArray } from './communicator.js';
import { CommunicatorError } from './errors.js';
import { hostDType } from './tensor.js';
import { P2P_ACKED, P2P_CHUNK, P2P_DTYPE, P2P_SENT, P2P_TOTAL, P2P_WORDS } from './thread-state.js';
import { BROKEN_P2P, bytesPer, DTYPES, type GroupSync, sharedView } from './thread-sync.js';

/**
 * The channel from member `from` to member `to` of a group: its control words, its data, and a
 * bounded wait on the word the other side moves (acknowledgements for the sender, sends for the
 * receiver) that fails if the peer exits, the group breaks, or `timeoutMs` passes.
 */
function channel(sync: GroupSync, from: number, to: number, peer: number, what: string) {
  if (!Number.isInteger(peer) || peer < 0 || peer >= sync.size || peer === sync.rank) {
    throw new CommunicatorError(
      `peer: must be another member of ${sync.name} in [0, ${sync.size}) (this is ${sync.rank}), got ${String(peer)}`,
    );
  }
  const p2p = new Int32Array(sync.group.p2pControl);
  const c = (from * sync.size + to) * P2P_WORDS;
  const wait = (done: () => boolean) => {
    const deadline = Date.now() + sync.state.timeoutMs;
    return sync.waitUntil(p2p, c + (from === sync.rank ? P2P_ACKED : P2P_SENT), done, () =>
      sync.checkMissing(() => [peer], what, deadline),
    );
  };
  return { p2p, c, wait, dataAt: (from * sync.size + to) * sync.state.p2pBytes };
}

/**
 * Sends `input` to member `peer` in chunks of the channel's size; resolves once the peer has
 * acknowledged every chunk.
 */
export async function sendTo(sync: GroupSync, input: HostArray, peer: number): Promise<void> {
  const what = `send to member ${peer}`;
  sync.checkBroken(what);
  const dtype = hostDType(input);
  const { p2p, c, wait, dataAt } = channel(sync, sync.rank, peer, peer, what);
  const per = Math.floor(sync.state.p2pBytes / bytesPer(dtype));
  const steps = Math.max(1, Math.ceil(input.length / per));
  const drained = () => Atomics.load(p2p, c + P2P_ACKED) === Atomics.load(p2p, c + P2P_SENT);
  for (let k = 0; k < steps; k++) {
    await wait(drained);
    const start = k * per;
    const count = Math.min(per, input.length - start);
    sharedView(dtype, sync.group.p2pData, dataAt, count).set(input.subarray(start, start + count));
    Atomics.store(p2p, c + P2P_CHUNK, count);
    Atomics.store(p2p, c + P2P_TOTAL, input.length);
    Atomics.store(p2p, c + P2P_DTYPE, DTYPES.indexOf(dtype));
    Atomics.add(p2p, c + P2P_SENT, 1);
    Atomics.notify(p2p, c + P2P_SENT);
  }
  await wait(drained);
}

/** Receives from member `peer` into `output`, checking length and type against what was sent. */
export async function recvFrom(sync: GroupSync, output: HostArray, peer: number): Promise<HostArray> {
  const what = `recv from member ${peer}`;
  sync.checkBroken(what);
  const dtype = hostDType(output, 'output');
  const { p2p, c, wait, dataAt } = channel(sync, peer, sync.rank, peer, what);
  const per = Math.floor(sync.state.p2pBytes / bytesPer(dtype));
  const steps = Math.max(1, Math.ceil(output.length / per));
  const ready = () => Atomics.load(p2p, c + P2P_SENT) !== Atomics.load(p2p, c + P2P_ACKED);
  for (let k = 0; k < steps; k++) {
    await wait(ready);
    const total = Atomics.load(p2p, c + P2P_TOTAL);
    const sentType = DTYPES[Atomics.load(p2p, c + P2P_DTYPE)];
    if (total !== output.length || sentType !== dtype) {
      sync.fail(
        BROKEN_P2P,
        peer,
        `group ${sync.name}: ${what}: member ${peer} sent ${total} ${sentType} elements, member ${sync.rank} expects ${output.length} ${dtype}`,
      );
    }
    const count = Atomics.load(p2p, c + P2P_CHUNK);
    output.set(sharedView(dtype, sync.group.p2pData, dataAt, count), k * per);
    Atomics.add(p2p, c + P2P_ACKED, 1);
    Atomics.notify(p2p, c + P2P_ACKED);
  }
  return output;
}
