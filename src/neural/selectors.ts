/**
 * Layer selectors of `quantizeWeights`: which layers (and which of a layer's bias fields) get
 * quantized. A selector is called once per layer without a field, and again with "bias" before
 * the bias of a convolution, inner product or batched matmul layer is quantized.
 */
import type { NeuralNetworkLayer } from "../format/gen/NeuralNetwork_pb.js";
import { ConfigError } from "../errors.js";

export type LayerSelector = (layer: NeuralNetworkLayer, field?: "weights" | "bias") => boolean;

/** Layer kinds quantize_weights can rewrite ("depthwiseConv" names grouped 1-channel convolutions). */
export const QUANTIZABLE_LAYER_TYPES: readonly string[] = [
  "convolution",
  "innerProduct",
  "embedding",
  "embeddingND",
  "batchnorm",
  "scale",
  "bias",
  "loadConstant",
  "loadConstantND",
  "simpleRecurrent",
  "gru",
  "uniDirectionalLSTM",
  "biDirectionalLSTM",
  "batchedMatmul",
  "depthwiseConv",
  "loop",
  "branch",
];

/** Every layer of a quantizable kind. */
export const defaultLayerSelector: LayerSelector = (layer) =>
  QUANTIZABLE_LAYER_TYPES.includes(layer.layer.case ?? "");

/**
 * `selector` without the layers named in `names` (a name skips that layer, or, for a branch or
 * loop layer, everything nested in it).
 */
export function skipLayersSelector(
  names: Iterable<string>,
  selector: LayerSelector = defaultLayerSelector,
): LayerSelector {
  const skipped = new Set(names);
  return (layer, field) => !skipped.has(layer.name) && selector(layer, field);
}

export interface AdvancedSelectorOptions {
  /** Layer kinds to leave alone; "bias" also keeps biases, "depthwiseConv" depthwise kernels. */
  skipLayerTypes?: string[];
  /** Convolutions with fewer kernel channels are left alone (default 4). */
  minimumConvKernelChannels?: number;
  /** Convolutions with fewer weights are left alone (default 4096). */
  minimumConvWeightCount?: number;
}

/** coremltools' AdvancedQuantizedLayerSelector. */
export function advancedLayerSelector(options: AdvancedSelectorOptions = {}): LayerSelector {
  const skip = options.skipLayerTypes ?? [];
  const minimumChannels = options.minimumConvKernelChannels ?? 4;
  const minimumCount = options.minimumConvWeightCount ?? 4096;
  const invalid = skip.filter((t) => !QUANTIZABLE_LAYER_TYPES.includes(t));
  if (invalid.length > 0) {
    throw new ConfigError(
      `cannot skip layer types ${invalid.join(", ")}: not quantizable (quantizable: ${QUANTIZABLE_LAYER_TYPES.join(", ")})`,
    );
  }
  return (layer, field) => {
    if (!defaultLayerSelector(layer)) return false;
    const kind = layer.layer;
    if (skip.includes(kind.case!)) return false;
    if (field === "bias") return !skip.includes("bias");
    if (kind.case === "convolution") {
      const conv = kind.value;
      const kernelChannels = Number(conv.kernelChannels);
      const count =
        Number(conv.outputChannels) *
        kernelChannels *
        conv.kernelSize.reduce((a, b) => a * Number(b), 1);
      if (skip.includes("depthwiseConv") && kernelChannels === 1 && conv.nGroups > 1n) return false;
      if (kernelChannels < minimumChannels || count < minimumCount) return false;
    }
    return true;
  };
}

export interface MatrixMultiplySelectorOptions {
  minimumWeightCount?: number;
  minimumInputChannels?: number;
  minimumOutputChannels?: number;
  maximumInputChannels?: number;
  maximumOutputChannels?: number;
  /** When given, only layers with these names. */
  includeLayersWithNames?: string[];
}

/** coremltools' MatrixMultiplyLayerSelector: inner products and batched matmuls by size. */
export function matrixMultiplyLayerSelector(
  options: MatrixMultiplySelectorOptions = {},
): LayerSelector {
  return (layer, field) => {
    const kind = layer.layer;
    if (kind.case === "loop" || kind.case === "branch") return true;
    if (kind.case !== "innerProduct" && kind.case !== "batchedMatmul") return false;
    if (field === "bias") return true;
    const [inputs, outputs] =
      kind.case === "innerProduct"
        ? [Number(kind.value.inputChannels), Number(kind.value.outputChannels)]
        : [
            Number(kind.value.weightMatrixFirstDimension),
            Number(kind.value.weightMatrixSecondDimension),
          ];
    if (inputs * outputs < (options.minimumWeightCount ?? 1)) return false;
    if (inputs < (options.minimumInputChannels ?? 1)) return false;
    if (outputs < (options.minimumOutputChannels ?? 1)) return false;
    if (options.maximumInputChannels && inputs > options.maximumInputChannels) return false;
    if (options.maximumOutputChannels && outputs > options.maximumOutputChannels) return false;
    const names = options.includeLayersWithNames;
    return !names || names.length === 0 || names.includes(layer.name);
  };
}
