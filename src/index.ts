/**
 * Public API of coreml-optimize on Node: the portable API plus what needs the file system
 * (loading and saving by path, config files, building models into temporary files).
 */
export * from "./api.js";
export { loadModel } from "./format/model.js";
export { loadConfigFile, loadStepsFile } from "./config/file.js";
export { buildModel, ProgramBuilder, type Var } from "./program/builder.js";
export { WorkerPool } from "./parallel/pool.js";
