/**
 * What the portable code needs from its host, with defaults that work anywhere: memory scratch
 * files, a pool of Web Workers where the host has them (else kernels run inline), no saving
 * to paths. Importing the Node model module (format/model.ts, which every Node entry point
 * does) installs the Node implementations.
 */
import { UnsupportedError } from "../errors.js";
import { memoryScratch, type ScratchStorage } from "../format/scratch.js";
import type { MLModel } from "../format/ml-model.js";
import type { TaskPool } from "../parallel/task-pool.js";
import { WebWorkerPool } from "../parallel/web-pool.js";

export interface Platform {
  /** Scratch storage for new weight files, in `dir` when given (Node only). */
  scratch(dir?: string): ScratchStorage;
  /** Threads that can run kernels at once. */
  parallelism(): number;
  /** A pool of `size` worker threads, or undefined where kernels run only inline. */
  createPool(size: number): TaskPool | undefined;
  /** Writes a model to a file-system path. */
  saveModel(model: MLModel, path: string): Promise<void>;
}

const portable: Platform = {
  scratch(dir) {
    if (dir !== undefined) {
      throw new UnsupportedError(`temporary folder ${dir}: file-system scratch needs Node`);
    }
    return memoryScratch;
  },
  parallelism: () =>
    Math.max(
      1,
      (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
        ?.hardwareConcurrency ?? 1,
    ),
  createPool: (size) => (WebWorkerPool.available() ? new WebWorkerPool(size) : undefined),
  saveModel(_model, path) {
    return Promise.reject(
      new UnsupportedError(`${path}: saving to a path needs Node; use modelToFiles instead`),
    );
  },
};

let current: Platform = portable;

export function platform(): Platform {
  return current;
}

/** Replaces the host implementations (the Node model module calls this when loaded). */
export function installPlatform(host: Platform): void {
  current = host;
}
