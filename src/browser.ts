/**
 * Public API of coreml-optimize for browsers and other hosts without Node: the same passes,
 * configs and analyses as the Node entry point, with models read from and written to byte
 * arrays (`loadModelFromFiles`, `modelToFiles`) instead of paths. Nothing reachable from here
 * imports a `node:` module, and importing it does nothing but define names; new weight files
 * are kept in memory. Where the host has Web Workers, palettization's k-means runs on a pool
 * of them (one per core); elsewhere kernels run on the calling thread.
 */
export * from "./api.js";
export {
  WebWorkerPool,
  type WebWorkerLike,
  type WebWorkerPoolOptions,
  type WorkerFactory,
} from "./parallel/web-pool.js";
export type { TaskPool } from "./parallel/task-pool.js";
