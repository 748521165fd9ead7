/**
 * Public API of coreml-optimize for browsers and other hosts without Node: the same passes,
 * configs and analyses as the Node entry point, with models read from and written to byte
 * arrays (`loadModelFromFiles`, `modelToFiles`) instead of paths. Nothing reachable from here
 * imports a `node:` module; kernels run on the calling thread and new weight files are kept in
 * memory.
 */
export { CoreMLOptimizeError, ConfigError, FormatError, UnsupportedError } from "./errors.js";
export { MLModel, type ModelFormat } from "./format/ml-model.js";
export { loadModelFromFiles, modelToFiles, MLMODEL_FILE, type ModelFiles } from "./format/files.js";
export { inspectModel, type ModelSummary, type WeightSummary } from "./analysis/inspect.js";
export { getWeightsMetadata, type WeightMetadata } from "./analysis/weights-metadata.js";
export * from "./config/optimization-config.js";
export * from "./config/parse.js";
export * from "./config/linear-quantizer.js";
export * from "./config/pruner.js";
export * from "./config/palettizer.js";
export * from "./config/steps.js";
export { compressInSteps, type StepResult, type StepsOptions } from "./passes/compress-steps.js";
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
export { pruneWeights } from "./passes/prune.js";
export {
  decompressWeights,
  type DecompressOptions,
  type DecompressedOp,
} from "./passes/decompress.js";
export {
  CONSTEXPR_OPS,
  evaluateConstexpr,
  isConstexprOp,
  type ConstexprEvaluator,
  type ConstexprInputs,
} from "./passes/constexpr.js";
export { TARGETS, type Target } from "./program/targets.js";
export type { ElementType, Tensor } from "./kernels/dtype.js";
export { floatToHalf, halfToFloat, floatToHalfArray, halfToFloatArray } from "./kernels/fp16.js";
export { palettizeWeights, palettizer, type PalettizeOptions } from "./passes/palettize.js";
export { optimalKMeans1D, kmeans1D, type Clustering1D } from "./kernels/palettize/kmeans1d.js";
export { neuralNetworkWeights, type NeuralWeightInfo } from "./neural/weights.js";
export { dequantizeWeightParams, type WeightStorage } from "./neural/dequantize.js";
export {
  advancedLayerSelector,
  defaultLayerSelector,
  matrixMultiplyLayerSelector,
  type AdvancedSelectorOptions,
  type LayerSelector,
  type MatrixMultiplySelectorOptions,
} from "./neural/selectors.js";
export { decompressNeuralNetwork, hasNeuralNetwork } from "./passes/nn-decompress.js";
export {
  quantizeWeights,
  NN_QUANTIZATION_MODES,
  type LutFunction as NeuralLutFunction,
  type NeuralQuantizationMode,
  type QuantizeWeightsOptions,
} from "./passes/nn-quantize.js";
