import type { HostArray } from './communicator.js';
import { CommunicatorError } from './errors.js';
import { hostDType } from './tensor.js';

interface Message {
  data: HostArray;
  done: (err?: Error) => void;
}

interface Waiter {
  output: HostArray;
  done: (err: Error | undefined, value?: HostArray) => void;
}

/**
 * Point-to-point messages of one in-process group: per ordered pair `from>to`, a queue of sent
 * messages waiting for a `recv` and a queue of receivers waiting for a `send`. A send resolves
 * when its message is received; either side rejects after `timeoutMs` (0: never).
 */
export class LocalMailbox {
  private readonly mailbox = new Map<string, Message[]>();
  private readonly waiting = new Map<string, Waiter[]>();
  constructor(
    readonly name: string,
    readonly timeoutMs: number,
  ) {}

  private startTimer(onTimeout: () => void): ReturnType<typeof setTimeout> | undefined {
    return this.timeoutMs > 0 ? setTimeout(onTimeout, this.timeoutMs) : undefined;
  }

  send(from: number, peer: number, input: HostArray): Promise<void> {
    const key = `${from}>${peer}`;
    return new Promise<void>((resolve, reject) => {
      const waiter = this.waiting.get(key)?.shift();
      if (waiter) {
        deliver(input, waiter, resolve, reject, key);
        return;
      }
      const timer = this.startTimer(() => {
        const q = this.mailbox.get(key) ?? [];
        q.splice(q.indexOf(msg), 1);
        reject(
          new CommunicatorError(
            `${this.name}: send ${key} timed out after ${this.timeoutMs} ms; member ${peer} never called recv`,
          ),
        );
      });
      const msg: Message = {
        data: input.slice(),
        done: (err) => {
          if (timer !== undefined) clearTimeout(timer);
          err ? reject(err) : resolve();
        },
      };
      const q = this.mailbox.get(key) ?? [];
      q.push(msg);
      this.mailbox.set(key, q);
    });
  }

  recv(peer: number, to: number, output: HostArray): Promise<HostArray> {
    const key = `${peer}>${to}`;
    return new Promise<HostArray>((resolve, reject) => {
      const msg = this.mailbox.get(key)?.shift();
      if (msg) {
        deliver(msg.data, { output, done: (e, v) => (e ? reject(e) : resolve(v!)) }, msg.done, msg.done, key);
        return;
      }
      const waiter: Waiter = {
        output,
        done: (err, value) => {
          if (timer !== undefined) clearTimeout(timer);
          err ? reject(err) : resolve(value!);
        },
      };
      const timer = this.startTimer(() => {
        const q = this.waiting.get(key) ?? [];
        q.splice(q.indexOf(waiter), 1);
        reject(
          new CommunicatorError(
            `${this.name}: recv ${key} timed out after ${this.timeoutMs} ms; member ${peer} never called send`,
          ),
        );
      });
      const q = this.waiting.get(key) ?? [];
      q.push(waiter);
      this.waiting.set(key, q);
    });
  }
}

function deliver(
  data: HostArray,
  waiter: Waiter,
  senderOk: () => void,
  senderFail: (e: Error) => void,
  key: string,
): void {
  const out = waiter.output;
  if (hostDType(out) !== hostDType(data) || out.length !== data.length) {
    const err = new CommunicatorError(
      `send/recv ${key}: receiver expects ${out.length} ${hostDType(out)} elements, sender sent ${data.length} ${hostDType(data)}`,
    );
    senderFail(err);
    waiter.done(err);
    return;
  }
  out.set(data);
  senderOk();
  waiter.done(undefined, out);
}
