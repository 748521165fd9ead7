/**
 * Public API of coreml-optimize for browsers and other hosts without Node: the same passes,
 * configs and analyses as the Node entry point, with models read from and written to byte
 * arrays (`loadModelFromFiles`, `modelToFiles`) instead of paths. Nothing reachable from here
 * imports a `node:` module; new weight files are kept in memory. Where the host has Web
 * Workers, palettization's k-means runs on a pool of them (one per core); elsewhere kernels run
 * on the calling thread.
 */
import { installPlatform, platform } from "./platform/index.js";
import { WebWorkerPool } from "./parallel/web-pool.js";

export * from "./api.js";
export { WebWorkerPool, type WebWorkerLike, type WorkerFactory } from "./parallel/web-pool.js";
export type { TaskPool } from "./parallel/task-pool.js";

if (WebWorkerPool.available()) {
  const portable = platform();
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  installPlatform({
    ...portable,
    parallelism: () => Math.max(1, cores ?? 1),
    createPool: (size) => new WebWorkerPool(size),
  });
}
