/**
 * The pool a pass starts for itself when the caller gives none: Web Workers where the host has
 * them, else none (kernels run on the calling thread). Node's worker threads are provided by
 * format/model.ts, which every Node entry point imports.
 */
import type { TaskPool } from "./task-pool.js";
import { WebWorkerPool } from "./web-pool.js";

export interface PoolHost {
  /** Threads that can run kernels at once. */
  parallelism(): number;
  /** A pool of `size` workers, or undefined where kernels run only inline. */
  createPool(size: number): TaskPool | undefined;
}

const browserHost: PoolHost = {
  parallelism: () =>
    Math.max(
      1,
      (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
        ?.hardwareConcurrency ?? 1,
    ),
  createPool: (size) => (WebWorkerPool.available() ? new WebWorkerPool(size) : undefined),
};

let host: PoolHost = browserHost;

/** A pool of `size` workers (default: one per core) from the host, if it has any. */
export function createDefaultPool(size?: number): TaskPool | undefined {
  return host.createPool(size ?? host.parallelism());
}

export function usePoolHost(pools: PoolHost): void {
  host = pools;
}
