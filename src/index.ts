/** Public API of coreml-optimize. */
export { CoreMLOptimizeError, ConfigError, FormatError, UnsupportedError } from "./errors.js";
export { loadModel, MLModel, type ModelFormat } from "./format/model.js";
export { inspectModel, type ModelSummary, type WeightSummary } from "./analysis/inspect.js";
export { getWeightsMetadata, type WeightMetadata } from "./analysis/weights-metadata.js";
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
export { buildModel, ProgramBuilder, type Var } from "./program/builder.js";
export { TARGETS, type Target } from "./program/targets.js";
export type { ElementType, Tensor } from "./kernels/dtype.js";
export { floatToHalf, halfToFloat, floatToHalfArray, halfToFloatArray } from "./kernels/fp16.js";
export { readNpy, writeNpy } from "./format/npy.js";
export { Interpreter, predict, type LoadOptions, type ProgramIO } from "./runtime/interpreter.js";
export { supportedOpTypes } from "./runtime/registry.js";
export { compareModels, compareOutputs, type OutputComparison } from "./runtime/compare.js";
export { randomSamples } from "./runtime/inputs.js";
