/**
 * Core ML model files on Node: `.mlmodel` (one protobuf) and `.mlpackage` (a folder with a
 * manifest, the model protobuf, weight files and any other items, which are kept as they are).
 * This is the Node entry of the format layer: importing it lets `MLModel.save(path)` write to
 * the file system, keeps new weight files in temporary files, and gives passes worker threads.
 * Browser code uses ml-model.ts and files.ts instead.
 */
import { availableParallelism } from "node:os";
import { WorkerPool } from "../parallel/pool.js";
import { usePoolHost } from "../parallel/default-pool.js";
import { tempFileScratch } from "./io-node.js";
import { usePathWriter } from "./ml-model.js";
import { saveModelToPath } from "./node-package.js";
import { useScratch } from "./scratch.js";

usePathWriter(saveModelToPath);
useScratch((dir) => tempFileScratch(dir));
usePoolHost({ parallelism: availableParallelism, createPool: (size) => new WorkerPool(size) });

export * from "./ml-model.js";
export { DirectoryStore, loadModel } from "./node-package.js";
