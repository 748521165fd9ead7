/** Public API of coreml-optimize. */
export * from "./errors.js";
export { loadModel, MLModel } from "./format/model.js";
export * from "./config/index.js";
export {
  compressWeights,
  raiseTarget,
  type CompressedWeight,
  type CompressionOptions,
  type CompressionResult,
  type WeightCandidate,
  type WeightCompressor,
  type WeightReport,
} from "./passes/driver.js";
export {
  inferBlockSizes,
  linearQuantizeWeights,
  linearQuantizer,
  type LinearQuantizeOptions,
} from "./passes/linear-quantize.js";
export { linearQuantize, type LinearQuantized } from "./kernels/linear-quantize.js";
export { palettizeWeights, palettizer, type PalettizeOptions } from "./passes/palettize.js";
export { optimalKMeans1D, kmeans1D, type Clustering1D } from "./kernels/palettize/kmeans1d.js";
