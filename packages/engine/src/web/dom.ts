/**
 * The few browser APIs the web executor and rank use, typed structurally here: the package builds
 * without the DOM lib (its Node half has Node's types), and tests can pass stand-ins.
 */

/** A dedicated Web Worker as the page sees it. */
export interface WebWorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'error' | 'messageerror', listener: (e: { message?: string }) => void): void;
  terminate(): void;
}

/** `Worker` (`new Worker(url, { type: 'module', name })`). */
export type WebWorkerConstructor = new (
  url: string | URL,
  options: { type: 'module'; name: string },
) => WebWorkerLike;

/** The global scope of a dedicated worker (`self`). */
export interface WorkerScopeLike {
  readonly name?: string;
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  close(): void;
}

/** The page's `Worker` constructor, or null outside a browser. */
export function globalWorker(): WebWorkerConstructor | null {
  const w = (globalThis as { Worker?: unknown }).Worker;
  return typeof w === 'function' ? (w as WebWorkerConstructor) : null;
}

/** Whether this page may share memory with its workers (`crossOriginIsolated`). */
export function isCrossOriginIsolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}
