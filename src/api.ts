/** The API every host shares: models as objects, byte arrays in and out, no file paths. */
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
export * from "./config/activation-quantizer.js";
export { compressInSteps, type StepResult, type StepsOptions } from "./passes/compress-steps.js";
export {
  compressWeights,
  type CompressedWeight,
  type CompressionOptions,
  type CompressionResult,
  type SkippedWeight,
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
export { pruneWeights, pruner, type PruneOptions } from "./passes/prune.js";
export { COMPRESSORS, compressModel, compressorFor } from "./passes/registry.js";
export { type JointInputs, type JointParameter } from "./passes/joint.js";
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
} from "./program/constexpr.js";
export { TARGETS, raiseTarget, type Target } from "./program/targets.js";
export type { ElementType, Tensor } from "./kernels/dtype.js";
export { floatToHalf, halfToFloat, floatToHalfArray, halfToFloatArray } from "./kernels/fp16.js";
export { palettizeWeights, palettizer, type PalettizeOptions } from "./passes/palettize.js";
export { optimalKMeans1D, kmeans1D, type Clustering1D } from "./kernels/palettize/kmeans1d.js";
export { neuralNetworkWeights, neuralWeightName, type NeuralWeightInfo } from "./neural/weights.js";
export { dequantizeWeightParams, type WeightStorage } from "./neural/dequantize.js";
export {
  advancedLayerSelector,
  defaultLayerSelector,
  matrixMultiplyLayerSelector,
  skipLayersSelector,
  type AdvancedSelectorOptions,
  type LayerSelector,
  type MatrixMultiplySelectorOptions,
} from "./neural/selectors.js";
export { decompressNeuralNetwork, hasNeuralNetwork } from "./passes/neural-decompress.js";
export {
  quantizeWeights,
  NN_QUANTIZATION_MODES,
  type LutFunction as NeuralLutFunction,
  type NeuralQuantizationMode,
  type Float16Loss,
  type QuantizedFieldEvent,
  type QuantizeWeightsOptions,
} from "./passes/neural-quantize.js";
export { readNpy, writeNpy } from "./format/npy.js";
export { Interpreter, type LoadOptions, type ProgramIO } from "./runtime/interpreter.js";
export { NeuralNetworkInterpreter } from "./runtime/neural-network.js";
export { loadRunner, predict, type ModelRunner } from "./runtime/runner.js";
export { supportedOpTypes } from "./runtime/registry.js";
export { supportedLayerTypes } from "./runtime/layers/table.js";
export { compareModels, compareOutputs, type OutputComparison } from "./runtime/compare.js";
export { randomSamples } from "./runtime/inputs.js";
export {
  mergeModels,
  type MergeOptions,
  type MergeResult,
  type MergeSource,
} from "./program/merge.js";
export { splitModel, type SplitOptions, type SplitResult } from "./program/split.js";
export { ProgramState } from "./runtime/state.js";
/** coremltools' older `compression_utils` names (op_selector instead of configs). */
export * as compressionUtils from "./passes/compression-utils.js";
export {
  activationQuantization,
  collectActivationRanges,
  linearQuantizeActivations,
  type ActivationQuantizeOptions,
  type ActivationQuantizeResult,
  type ActivationRange,
  type QuantizationParameters,
} from "./calibrate/activation-quantize.js";
export type { OpInspector, PredictOptions, ValueObserver } from "./runtime/interpreter.js";
export {
  compressWithCalibration,
  type CalibratedCompressionOptions,
} from "./calibrate/data-aware.js";
export {
  collectInputStatistics,
  InputStatisticsTable,
  type StatisticsOptions,
} from "./calibrate/statistics.js";
export type { Calibration, InputStatistics } from "./passes/calibration.js";
export {
  collectNeuralStatistics,
  LayerStatisticsTable,
  type NeuralStatisticsOptions,
} from "./calibrate/neural-statistics.js";
export {
  measuredCalibration,
  type MeasureHorizon,
  type MeasuredCalibrationOptions,
} from "./calibrate/neural-measure.js";
export type { LayerCalibration, NeuralKmeansAlgorithm } from "./passes/neural-quantize.js";
export {
  comparePerOp,
  type PerOpComparison,
  type PerOpOptions,
  type ValueComparison,
} from "./analysis/per-op.js";
export { agreement, perplexity, type Agreement, type Perplexity } from "./analysis/task-metrics.js";
export {
  defaultCandidates,
  measureSensitivity,
  type Candidate,
  type SensitivityOptions,
  type SensitivityTable,
  type Trial,
} from "./analysis/sensitivity.js";
export { parseCandidates } from "./analysis/candidates.js";
export {
  chooseRecipe,
  recipeSteps,
  type Recipe,
  type RecipeChoice,
  type RecipeTarget,
} from "./analysis/recipe.js";
export { applyRecipe, measureRecipe, type RecipeMeasurement } from "./analysis/recipe-check.js";
