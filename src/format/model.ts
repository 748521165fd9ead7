/**
 * Core ML model files on Node: `.mlmodel` (one protobuf) and `.mlpackage` (a folder with a
 * manifest, the model protobuf, weight files and any other items, which are kept as they are).
 * Importing this module also installs the Node platform (temporary weight files, worker threads,
 * `MLModel.save(path)`); browser code uses ml-model.ts instead.
 */
import "../platform/node.js";

export * from "./ml-model.js";
export { DirectoryStore, loadModel } from "./node-package.js";
