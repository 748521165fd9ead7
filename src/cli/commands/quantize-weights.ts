/** `coreml-optimize quantize-weights`: coremltools' `quantize_weights` for neural networks. */
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { MLModel } from "../../format/model.js";
import type { WeightStorage } from "../../neural/dequantize.js";
import { advancedLayerSelector, type LayerSelector } from "../../neural/selectors.js";
import { neuralNetworkWeights, type NeuralWeightInfo } from "../../neural/weights.js";
import {
  NN_QUANTIZATION_MODES,
  quantizeWeights,
  type NeuralQuantizationMode,
} from "../../passes/nn-quantize.js";
import { WorkerPool } from "../../parallel/pool.js";
import { formatBytes, formatTable } from "../format.js";
import { printJson, withModel } from "../run.js";

interface QuantizeWeightsCliOptions {
  output: string;
  nbits: string;
  mode?: string;
  skipLayerTypes?: string;
  minimumConvWeightCount?: string;
  minimumConvKernelChannels?: string;
  json?: boolean;
}

export interface QuantizedWeightReport {
  /** Pipeline member names, enclosing branch/loop layers, the layer and the field, joined by "/". */
  name: string;
  layerType: string;
  elementCount: number;
  storage: WeightStorage;
  bytesBefore: number;
  bytesAfter: number;
}

function integerOption(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`--${option}: expected a non-negative integer, got "${text}"`);
  }
  return value;
}

/** The settings of `quantizeWeights` the options describe. */
export function quantizeWeightsSettings(options: Omit<QuantizeWeightsCliOptions, "output">): {
  nbits: number;
  mode?: NeuralQuantizationMode;
  selector?: LayerSelector;
} {
  const nbits = integerOption(options.nbits, "nbits")!;
  const mode = options.mode;
  if (mode !== undefined && !(NN_QUANTIZATION_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(
      `--mode: expected one of ${NN_QUANTIZATION_MODES.join(", ")}, got "${mode}"`,
    );
  }
  if (mode === "custom_lut")
    throw new ConfigError("--mode custom_lut needs a function: use the API");
  const skip = options.skipLayerTypes
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const weightCount = integerOption(options.minimumConvWeightCount, "minimum-conv-weight-count");
  const kernelChannels = integerOption(
    options.minimumConvKernelChannels,
    "minimum-conv-kernel-channels",
  );
  const advanced = skip !== undefined || weightCount !== undefined || kernelChannels !== undefined;
  return {
    nbits,
    mode: mode as NeuralQuantizationMode | undefined,
    selector: advanced
      ? advancedLayerSelector({
          skipLayerTypes: skip,
          minimumConvWeightCount: weightCount,
          minimumConvKernelChannels: kernelChannels,
        })
      : undefined,
  };
}

const weightName = (w: NeuralWeightInfo) =>
  [...w.modelPath, ...w.enclosingLayers, w.layer, w.field].join("/");

/** Each weight of the output, with its size before (as the same layer field of the input). */
export function weightReport(
  before: NeuralWeightInfo[],
  after: NeuralWeightInfo[],
): QuantizedWeightReport[] {
  const sizes = new Map(before.map((w) => [weightName(w), w.byteSize]));
  return after.map((w) => ({
    name: weightName(w),
    layerType: w.layerType,
    elementCount: w.elementCount,
    storage: w.storage,
    bytesBefore: sizes.get(weightName(w)) ?? w.byteSize,
    bytesAfter: w.byteSize,
  }));
}

function storageLabel(storage: WeightStorage): string {
  return storage.kind === "quantized"
    ? `${storage.quantization} ${storage.nbits}-bit`
    : storage.kind;
}

function reportTable(weights: QuantizedWeightReport[]): string {
  const rows = weights.map((w) => [
    w.name,
    w.layerType,
    String(w.elementCount),
    storageLabel(w.storage),
    formatBytes(w.bytesBefore),
    formatBytes(w.bytesAfter),
  ]);
  const before = weights.reduce((sum, w) => sum + w.bytesBefore, 0);
  const after = weights.reduce((sum, w) => sum + w.bytesAfter, 0);
  rows.push([
    "total",
    "",
    "",
    `${weights.length} weights`,
    formatBytes(before),
    formatBytes(after),
  ]);
  return formatTable(["weight", "layer", "values", "storage", "before", "after"], rows);
}

export function registerQuantizeWeights(program: Command): void {
  program
    .command("quantize-weights")
    .description("Quantize the weights of a neural-network model (coremltools' quantize_weights)")
    .argument("<input>", "neural-network model (.mlmodel)")
    .requiredOption("-o, --output <path>", "where to write the quantized model")
    .requiredOption("--nbits <n>", "16 for float16, or 1 to 8 bits per weight")
    .option(
      "--mode <mode>",
      `${NN_QUANTIZATION_MODES.filter((m) => m !== "custom_lut").join(", ")} (default linear)`,
    )
    .option(
      "--skip-layer-types <types>",
      "comma-separated layer kinds to leave alone (e.g. batchnorm,bias)",
    )
    .option(
      "--minimum-conv-weight-count <n>",
      "leave smaller convolutions alone (default 4096 with a skip option)",
    )
    .option(
      "--minimum-conv-kernel-channels <n>",
      "leave convolutions with fewer kernel channels alone (default 4)",
    )
    .option("--json", "print the summary as JSON")
    .action(async (input: string, options: QuantizeWeightsCliOptions) => {
      const settings = quantizeWeightsSettings(options);
      // Only k-means clustering is heavy enough to spread over threads.
      const kmeans = settings.mode === "kmeans_lut" || settings.mode === "kmeans";
      const pool = kmeans ? new WorkerPool() : undefined;
      await withModel(input, async (model) => {
        let quantized: MLModel;
        try {
          quantized = await quantizeWeights(model, { ...settings, pool });
        } finally {
          await pool?.close();
        }
        try {
          await quantized.save(options.output);
        } finally {
          await quantized.close();
        }
        const weights = weightReport(
          neuralNetworkWeights(model.spec),
          neuralNetworkWeights(quantized.spec),
        );
        if (options.json) printJson({ output: options.output, weights });
        else process.stdout.write(`${reportTable(weights)}\nwrote ${options.output}\n`);
      });
    });
}
