/**
 * Collectives for WebGPU tensors over a host communicator (`ThreadCommunicator`,
 * `createLocalCommunicators`): each collective downloads its input, runs the host collective and
 * uploads the result on the input's device. Correct on any platform, though every collective
 * costs a device→host→device round trip; `commBuffer` itself stays a synchronous no-copy
 * (it returns the tensor), since WebGPU cannot read a buffer back synchronously.
 */
import type { Communicator, HostArray, ReduceOp } from '@dcp/parallel-state';
import { download, upload, write } from './memory.js';
import { arg, count, type WebGpuTensor } from './tensor.js';

function hostLike(t: WebGpuTensor): HostArray {
  const n = count(t);
  return t.dtype === 'f32' ? new Float32Array(n) : t.dtype === 'i32' ? new Int32Array(n) : new Uint16Array(n);
}

async function down(t: WebGpuTensor, field: string): Promise<HostArray> {
  const a = arg(t, field);
  return (await download(a.storage.owner, a)) as HostArray;
}

function up(like: WebGpuTensor, data: HostArray, shape: readonly number[]): WebGpuTensor {
  return upload(like.storage.owner, data, shape, like.dtype);
}

function scaled(shape: readonly number[], dim: number, f: (d: number) => number): number[] {
  const s = [...shape];
  if (!(Number.isInteger(dim) && dim >= 0 && dim < s.length)) {
    throw new RangeError(`collective dim: ${dim} outside the shape [${shape.join(', ')}]`);
  }
  s[dim] = f(s[dim]!);
  return s;
}

/**
 * A `Communicator` over WebGPU tensors backed by a host communicator. Results are new tensors
 * owned by the backend instance that owns the input (dispose them as usual).
 */
export function wrapHostCommunicator(inner: Communicator<HostArray>): Communicator<WebGpuTensor> {
  const size = inner.size;
  return {
    rank: inner.rank,
    size,
    async allGather(input, shape, dim) {
      const r = await inner.allGather(await down(input, 'allGather input'), shape, dim);
      return up(
        input,
        r,
        scaled(shape, dim, (d) => d * size),
      );
    },
    async reduceScatter(input, shape, dim, op?: ReduceOp) {
      const r = await inner.reduceScatter(await down(input, 'reduceScatter input'), shape, dim, op);
      return up(
        input,
        r,
        scaled(shape, dim, (d) => d / size),
      );
    },
    async allReduce(input, op?: ReduceOp) {
      return up(input, await inner.allReduce(await down(input, 'allReduce input'), op), input.shape);
    },
    async allToAll(input, shape, dim) {
      return up(input, await inner.allToAll(await down(input, 'allToAll input'), shape, dim), input.shape);
    },
    async broadcast(input, root) {
      return up(input, await inner.broadcast(await down(input, 'broadcast input'), root), input.shape);
    },
    async send(input, peer) {
      await inner.send(await down(input, 'send input'), peer);
    },
    async recv(output, peer) {
      const o = arg(output, 'recv output');
      const got = await inner.recv(hostLike(o), peer);
      write(o.storage.owner, o, got);
      return output;
    },
    barrier: () => inner.barrier(),
  };
}
