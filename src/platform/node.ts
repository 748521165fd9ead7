/** The Node implementations of the platform hooks: temporary files, worker threads, paths. */
import { availableParallelism } from "node:os";
import { saveModelToPath } from "../format/node-package.js";
import { tempFileScratch } from "../format/io-node.js";
import { WorkerPool } from "../parallel/pool.js";
import { installPlatform } from "./index.js";

installPlatform({
  scratch: (dir) => tempFileScratch(dir),
  parallelism: availableParallelism,
  createPool: (size) => new WorkerPool(size),
  saveModel: saveModelToPath,
});
