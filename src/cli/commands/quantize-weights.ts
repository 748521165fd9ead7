/** `coreml-optimize quantize-weights`: coremltools' `quantize_weights` for neural networks. */
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { MLModel } from "../../format/model.js";
import type { WeightStorage } from "../../neural/dequantize.js";
import {
  advancedLayerSelector,
  skipLayersSelector,
  type LayerSelector,
} from "../../neural/selectors.js";
import { neuralNetworksIn, walkLayers } from "../../neural/walk.js";
import { neuralNetworkWeights, type NeuralWeightInfo } from "../../neural/weights.js";
import {
  NN_QUANTIZATION_MODES,
  quantizeWeights,
  type Float16Loss,
  type NeuralQuantizationMode,
  type QuantizedFieldEvent,
} from "../../passes/nn-quantize.js";
import { WorkerPool } from "../../parallel/pool.js";
import { formatBytes, formatNumber, formatTable } from "../format.js";
import { CHECK_OPTION, checkCount, checkResult, renderComparison } from "../check.js";
import { createProgress } from "../progress.js";
import { checkOutput, printJson, withModel } from "../run.js";
import { modelKindOf } from "../../format/output-path.js";

interface QuantizeWeightsCliOptions {
  output: string;
  nbits: string;
  mode?: string;
  skipLayerTypes?: string;
  skipLayers?: string;
  minWeightCount?: string;
  minConvChannels?: string;
  keepLossy?: boolean;
  fuse?: boolean;
  json?: boolean;
  quiet?: boolean;
  check?: string;
}

export interface QuantizedWeightReport {
  /** Pipeline member names, enclosing branch/loop layers, the layer and the field, joined by "/". */
  name: string;
  layerType: string;
  elementCount: number;
  storage: WeightStorage;
  bytesBefore: number;
  bytesAfter: number;
  /** How the input stored the weight, when that matters to what happened to it. */
  note?: "from float16" | "already float16" | "already quantized" | "kept in float32";
  /** At 16 bits: values float16 holds only as subnormals, or turns into zeros or infinities. */
  float16Loss?: Float16Loss;
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
  skipLayers?: string[];
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
  const skip = listOption(options.skipLayerTypes);
  const weightCount = integerOption(options.minWeightCount, "min-weight-count");
  const kernelChannels = integerOption(options.minConvChannels, "min-conv-channels");
  const advanced = skip !== undefined || weightCount !== undefined || kernelChannels !== undefined;
  let selector = advanced
    ? advancedLayerSelector({
        skipLayerTypes: skip,
        minimumConvWeightCount: weightCount,
        minimumConvKernelChannels: kernelChannels,
      })
    : undefined;
  const skipLayers = listOption(options.skipLayers);
  if (skipLayers) selector = skipLayersSelector(skipLayers, selector);
  return { nbits, mode: mode as NeuralQuantizationMode | undefined, selector, skipLayers };
}

function listOption(text: string | undefined): string[] | undefined {
  return text
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** Fails on --skip-layers names that no layer of the model has. */
function checkLayerNames(names: string[], model: MLModel): void {
  const known = new Set<string>();
  for (const { network } of neuralNetworksIn(model.spec)) {
    for (const { layer } of walkLayers(network)) known.add(layer.name);
  }
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(`--skip-layers: the model has no layer named ${unknown.join(", ")}`);
  }
}

const weightName = (w: NeuralWeightInfo) =>
  [...w.modelPath, ...w.enclosingLayers, w.layer, w.field].join("/");

/**
 * Each weight of the output, with its size before (as the same layer field of the input) and
 * what the pass said of it.
 */
function weightReport(
  before: NeuralWeightInfo[],
  after: NeuralWeightInfo[],
  events: Map<string, QuantizedFieldEvent>,
): QuantizedWeightReport[] {
  const inputs = new Map(before.map((w) => [weightName(w), w]));
  return after.map((w) => {
    const input = inputs.get(weightName(w));
    const event = events.get(`${w.layer}/${w.field}`);
    const note =
      event?.outcome === "kept in float32"
        ? event.outcome
        : input && storageNote(input.storage.kind, w.storage.kind);
    return {
      name: weightName(w),
      layerType: w.layerType,
      elementCount: w.elementCount,
      storage: w.storage,
      bytesBefore: input?.byteSize ?? w.byteSize,
      bytesAfter: w.byteSize,
      ...(note && { note }),
      ...(event?.float16Loss && { float16Loss: event.float16Loss }),
    };
  });
}

/**
 * One warning per weight that float16 holds badly, and how to keep such weights: the
 * remedies the options offer.
 */
function float16Warnings(weights: QuantizedWeightReport[], kept: boolean): string {
  const lossy = weights.filter((w) => w.float16Loss);
  if (lossy.length === 0) return "";
  const lines = lossy.map(({ name, layerType, elementCount, float16Loss: loss, note }) => {
    const { subnormal, zero, overflow, snrDb, channels, inexactIntegers } = loss!;
    const parts = [
      subnormal && `${subnormal} subnormal`,
      zero && `${zero} zero`,
      overflow && `${overflow} infinite`,
      inexactIntegers && `${inexactIntegers} integers inexact`,
    ].filter(Boolean);
    const effect =
      inexactIntegers !== undefined
        ? "shapes or indices read from it would change"
        : channels !== undefined
          ? `the scale or shift of ${channels} of its channels moves by more than 1%`
          : `the weight's SNR falls to ${formatNumber(snrDb, 1)} dB`;
    const outcome = note === "kept in float32" ? " (kept in float32)" : "";
    return `warning: ${name} (${layerType}): float16 makes ${parts.join(", ")} of ${elementCount} values; ${effect}${outcome}\n`;
  });
  if (!kept) {
    lines.push(
      "hint: --keep-lossy keeps these weights in float32; --fuse folds batchnorm, scale and bias layers into the layers before them first; --skip-layers leaves whole layers alone\n",
    );
  }
  return lines.join("");
}

function storageNote(
  before: WeightStorage["kind"],
  after: WeightStorage["kind"],
): QuantizedWeightReport["note"] {
  if (before === "float16") return after === "float16" ? "already float16" : "from float16";
  if (before === "quantized" || before === "int8" || before === "raw") return "already quantized";
  return undefined;
}

/** Lines telling what differs from coremltools, which quantizes float32 weights only. */
function notesSummary(weights: QuantizedWeightReport[]): string {
  const count = (note: QuantizedWeightReport["note"]) =>
    weights.filter((w) => w.note === note).length;
  const lines: string[] = [];
  const fromHalf = count("from float16");
  if (fromHalf > 0) {
    lines.push(
      `${fromHalf} weights were quantized from float16 values (coremltools would skip them)`,
    );
  }
  const kept = count("already quantized");
  if (kept > 0) lines.push(`${kept} weights were already quantized and are kept as they are`);
  const half = count("already float16");
  if (half > 0) lines.push(`${half} weights were already float16 and are kept as they are`);
  return lines.map((line) => `note: ${line}\n`).join("");
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
    w.note ? `${storageLabel(w.storage)} (${w.note})` : storageLabel(w.storage),
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
      "--min-conv-channels <n>",
      "leave convolutions with fewer kernel channels alone (default 4 with a selector option)",
    )
    .option(
      "--min-weight-count <n>",
      "leave convolutions with fewer weights alone (default 4096 with a selector option)",
    )
    .option("--skip-layers <names>", "comma-separated names of layers to leave alone")
    .option(
      "--keep-lossy",
      "at 16 bits, keep in float32 the weights float16 holds badly (infinities, or subnormals and zeros that cost precision)",
    )
    .option(
      "--fuse",
      "at 16 bits, fold batchnorm, scale and bias layers into the layers before them first (always done below 16 bits)",
    )
    .option(...CHECK_OPTION)
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, options: QuantizeWeightsCliOptions) => {
      await checkOutput(options.output, modelKindOf(options.output), [input]);
      const { skipLayers, ...settings } = quantizeWeightsSettings(options);
      const events = new Map<string, QuantizedFieldEvent>();
      const checks = checkCount(options.check);
      const { weights, check } = await withModel(input, async (model) => {
        if (skipLayers) checkLayerNames(skipLayers, model);
        // Only k-means clustering is heavy enough to spread over threads.
        const kmeans = settings.mode === "kmeans_lut" || settings.mode === "kmeans";
        const pool = kmeans ? new WorkerPool() : undefined;
        const progress = createProgress("quantize-weights", options.quiet || options.json);
        let quantized: MLModel;
        try {
          quantized = await quantizeWeights(model, {
            ...settings,
            keepLossy: options.keepLossy,
            fuse: options.fuse,
            onField: (event) => events.set(`${event.layer}/${event.field}`, event),
            pool,
            onProgress: (done, total, layer) => progress.update(done, total, layer),
          });
        } finally {
          progress.stop();
          await pool?.close();
        }
        try {
          const check = await checkResult(
            { model, path: input },
            { model: quantized, path: options.output },
            checks,
          );
          await quantized.save(options.output);
          const before = neuralNetworkWeights(model.spec);
          return {
            weights: weightReport(before, neuralNetworkWeights(quantized.spec), events),
            check,
          };
        } finally {
          await quantized.close();
        }
      });
      process.stderr.write(float16Warnings(weights, options.keepLossy ?? false));
      if (options.json) printJson({ output: options.output, weights, check });
      else {
        process.stdout.write(
          `${reportTable(weights)}\n${notesSummary(weights)}wrote ${options.output}\n`,
        );
        if (check) process.stdout.write(`${renderComparison(check)}\n`);
      }
    });
}
