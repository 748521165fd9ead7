/** Public API of coreml-optimize. */
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
  type LutFunction,
  type NeuralQuantizationMode,
  type QuantizeWeightsOptions,
} from "./passes/nn-quantize.js";
