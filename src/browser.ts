/**
 * Public API of coreml-optimize for browsers and other hosts without Node: the same passes,
 * configs and analyses as the Node entry point, with models read from and written to byte
 * arrays (`loadModelFromFiles`, `modelToFiles`) instead of paths. Nothing reachable from here
 * imports a `node:` module; kernels run on the calling thread and new weight files are kept in
 * memory.
 */
export * from "./api.js";
