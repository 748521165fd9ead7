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
import {
  neuralNetworkWeights,
  neuralWeightName,
  type NeuralWeightInfo,
} from "../../neural/weights.js";
import { quantizeWeightsSequentially } from "../../calibrate/neural-sequential.js";
import { collectNeuralStatistics } from "../../calibrate/neural-statistics.js";
import {
  MEASURE_HORIZONS,
  measuredCalibration,
  type MeasureHorizon,
} from "../../calibrate/neural-measure.js";
import { NeuralNetworkInterpreter } from "../../runtime/neural-network.js";
import { sampleOptions, samplesFromFlags, type SampleFlags } from "../inputs.js";
import {
  NN_KMEANS_ALGORITHMS,
  NN_QUANTIZATION_MODES,
  quantizeWeights,
  type NeuralKmeansAlgorithm,
  type Float16Loss,
  type LayerCalibration,
  type LayerQuantization,
  type NeuralQuantizationMode,
  type QuantizedFieldEvent,
} from "../../passes/neural-quantize.js";
import { parseQuantizeWeightsText } from "../../passes/neural-quantize-config.js";
import { readRegularFile } from "../../format/user-files.js";
import {
  outputOptions,
  parseWorkers,
  runWrite,
  WORKERS_OPTION,
  type OutputFlags,
} from "../write-command.js";
import { parseInteger } from "../flags.js";
import { formatNumber } from "../format.js";
import { mergeAdvice, type Advice, type ReportedSkip, type ReportedWeight } from "../report.js";

interface QuantizeWeightsCliOptions extends OutputFlags {
  nbits?: string;
  config?: string;
  algorithm?: string;
  measure?: string;
  sequential?: boolean;
  compensate?: boolean;
  mode?: string;
  skipLayerTypes?: string;
  skipLayers?: string;
  minWeightCount?: string;
  minConvChannels?: string;
  keepLossy?: boolean;
  fuse?: boolean;
  workers?: string;
}

/** What happened to one weight field, as the pass reported it. */
interface FieldOutcome {
  /** Pipeline member names, enclosing branch/loop layers, the layer and the field, joined by "/". */
  name: string;
  layerType: string;
  elementCount: number;
  shape: number[];
  storage: WeightStorage;
  bytesBefore: number;
  bytesAfter: number;
  /** How the input stored the weight, when that matters to what happened to it. */
  note?: "from float16" | "already float16" | "already quantized" | "kept in float32";
  /** The pass did not see the field: its layer was not selected. */
  unselected?: boolean;
  /** At 16 bits: values float16 holds only as subnormals, or turns into zeros or infinities. */
  float16Loss?: Float16Loss;
}

function integerOption(text: string | undefined, flag: string): number | undefined {
  return text === undefined ? undefined : parseInteger(text, flag);
}

/** The settings of `quantizeWeights` the options describe. */
export function quantizeWeightsSettings(options: QuantizeWeightsCliOptions): {
  nbits?: number;
  mode?: NeuralQuantizationMode;
  selector?: LayerSelector;
  skipLayers?: string[];
} {
  if ((options.nbits === undefined) === (options.config === undefined)) {
    throw new ConfigError("give --nbits (every layer alike) or --config FILE (per layer)");
  }
  if (options.config !== undefined && options.mode !== undefined) {
    throw new ConfigError("--mode: the --config file gives each layer's mode");
  }
  const nbits = integerOption(options.nbits, "--nbits");
  const mode = options.mode;
  if (mode !== undefined && !(NN_QUANTIZATION_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(
      `--mode: expected one of ${NN_QUANTIZATION_MODES.join(", ")}, got "${mode}"`,
    );
  }
  if (mode === "custom_lut")
    throw new ConfigError("--mode custom_lut needs a function: use the API");
  const skip = listOption(options.skipLayerTypes);
  const weightCount = integerOption(options.minWeightCount, "--min-weight-count");
  const kernelChannels = integerOption(options.minConvChannels, "--min-conv-channels");
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

/** The settings of a `--config` file (per-layer bits and modes) added to the flags' ones. */
async function withConfigFile(
  path: string,
  settings: ReturnType<typeof quantizeWeightsSettings>,
): Promise<
  ReturnType<typeof quantizeWeightsSettings> & {
    layers: Record<string, LayerQuantization>;
    configLayers: string[];
    /** Whether the file names a k-means algorithm (which needs calibration samples). */
    configCalibrates: boolean;
  }
> {
  const text = new TextDecoder().decode(await readRegularFile(path));
  const config = await parseQuantizeWeightsText(text, path);
  return {
    ...settings,
    ...config.global,
    layers: config.layers,
    configLayers: [...Object.keys(config.layers), ...config.skip],
    configCalibrates: [config.global, ...Object.values(config.layers)].some((l) => l?.algorithm),
    ...(config.skip.length > 0 && {
      selector: skipLayersSelector(config.skip, settings.selector),
    }),
  };
}

/** Fails on layer names (of `where`: a flag, or a file's key) that no layer of the model has. */
function checkLayerNames(names: string[], model: MLModel, where = "--skip-layers"): void {
  const known = new Set<string>();
  for (const { network } of neuralNetworksIn(model.spec)) {
    for (const { layer } of walkLayers(network)) known.add(layer.name);
  }
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(`${where}: the model has no layer named ${unknown.join(", ")}`);
  }
}

/**
 * Each weight of the output, with its size before (as the same layer field of the input) and
 * what the pass said of it.
 */
function fieldOutcomes(
  before: NeuralWeightInfo[],
  after: NeuralWeightInfo[],
  events: Map<string, QuantizedFieldEvent>,
): FieldOutcome[] {
  const inputs = new Map(before.map((w) => [neuralWeightName(w), w]));
  return after.map((w) => {
    const input = inputs.get(neuralWeightName(w));
    const event = events.get(`${w.layer}/${w.field}`);
    const note =
      event?.outcome === "kept in float32"
        ? event.outcome
        : input && storageNote(input.storage.kind, w.storage.kind);
    return {
      name: neuralWeightName(w),
      layerType: w.layerType,
      elementCount: w.elementCount,
      shape: w.shape,
      storage: w.storage,
      bytesBefore: input?.byteSize ?? w.byteSize,
      bytesAfter: w.byteSize,
      ...(note && { note }),
      ...(!event && { unselected: true }),
      ...(event?.float16Loss && { float16Loss: event.float16Loss }),
    };
  });
}

/**
 * One warning per weight that float16 holds badly, and how to keep such weights: the
 * remedies the options offer.
 */
function float16Advice(weights: FieldOutcome[], kept: boolean): Advice {
  const lossy = weights.filter((w) => w.float16Loss);
  const warnings = lossy.map(({ name, layerType, elementCount, float16Loss: loss, note }) => {
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
    return `${name} (${layerType}): float16 makes ${parts.join(", ")} of ${elementCount} values; ${effect}${outcome}`;
  });
  const hints =
    lossy.length > 0 && !kept
      ? [
          "--keep-lossy keeps these weights in float32; --fuse folds batchnorm, scale and bias layers into the layers before them first; --skip-layers leaves whole layers alone",
        ]
      : [];
  return { warnings, hints };
}

function storageNote(
  before: WeightStorage["kind"],
  after: WeightStorage["kind"],
): FieldOutcome["note"] {
  if (before === "float16") return after === "float16" ? "already float16" : "from float16";
  if (before === "quantized" || before === "int8" || before === "raw") return "already quantized";
  return undefined;
}

/** Why a field was left as it was, in the report's words. */
const LEFT_ALONE: Record<string, string> = {
  "already float16": "already float16",
  "already quantized": "already quantized",
  "kept in float32": "kept in float32: float16 holds it badly (--keep-lossy)",
};

function storageConfig(storage: WeightStorage): Record<string, unknown> {
  return storage.kind === "quantized"
    ? { config_type: "quantize_weights", mode: storage.quantization, nbits: storage.nbits }
    : { config_type: "quantize_weights", storage: storage.kind };
}

/** The report's changed and unchanged weights. */
function reportLines(fields: FieldOutcome[]): {
  weights: ReportedWeight[];
  skipped: ReportedSkip[];
  notes: string[];
} {
  const weights: ReportedWeight[] = [];
  const skipped: ReportedSkip[] = [];
  for (const f of fields) {
    const reason = f.unselected
      ? "not selected (--skip-layers, --skip-layer-types, --min-*, or not named by --config)"
      : f.note && LEFT_ALONE[f.note];
    if (reason) skipped.push({ name: f.name, reason });
    else {
      weights.push({
        name: f.name,
        shape: f.shape,
        config: storageConfig(f.storage),
        bytesBefore: f.bytesBefore,
        bytesAfter: f.bytesAfter,
        snrDb: null,
      });
    }
  }
  const fromHalf = fields.filter((f) => f.note === "from float16").length;
  const notes =
    fromHalf > 0
      ? [`${fromHalf} weights were quantized from float16 values (coremltools would skip them)`]
      : [];
  return { weights, skipped, notes };
}

/**
 * `--algorithm sensitive-kmeans`: checked before the model is read. `configCalibrates`: the
 * --config file names the algorithm itself (for some layers), so it takes the sample flags.
 */
function algorithmOf(
  options: QuantizeWeightsCliOptions & SampleFlags,
  configCalibrates: boolean,
): NeuralKmeansAlgorithm | undefined {
  const { algorithm, mode } = options;
  if (options.measure !== undefined) {
    if (algorithm === undefined && !configCalibrates)
      throw new ConfigError("--measure needs --algorithm sensitive-kmeans or gptq-kmeans");
    if (!(MEASURE_HORIZONS as readonly string[]).includes(options.measure)) {
      throw new ConfigError(
        `--measure: expected one of ${MEASURE_HORIZONS.join(", ")}, got "${options.measure}"`,
      );
    }
  }
  if (algorithm === undefined) {
    if (configCalibrates) return undefined;
    if (options.data?.length || options.inputs || options.input?.length) {
      throw new ConfigError(
        "--data, --inputs and --input calibrate --algorithm sensitive-kmeans or gptq-kmeans",
      );
    }
    return undefined;
  }
  if (!(NN_KMEANS_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new ConfigError(
      `--algorithm: expected one of ${NN_KMEANS_ALGORITHMS.join(", ")}, got "${algorithm}"`,
    );
  }
  // With --config, the file's modes decide (quantizeWeights names a layer that is not k-means).
  if (mode !== "kmeans_lut" && mode !== "kmeans" && !options.config) {
    throw new ConfigError(`--algorithm ${algorithm} needs --mode kmeans_lut`);
  }
  return algorithm as NeuralKmeansAlgorithm;
}

/** The calibration samples the flags name, for the network's inputs. */
function samplesOf(model: MLModel, options: SampleFlags) {
  return samplesFromFlags(options, NeuralNetworkInterpreter.fromSpec(model.spec).inputs);
}

/**
 * Sensitive k-means: the layers' input statistics on the flags' calibration samples, and with
 * --measure the candidates measured on them.
 */
async function calibrationOf(
  model: MLModel,
  options: SampleFlags & { measure?: string },
): Promise<LayerCalibration> {
  const samples = await samplesOf(model, options);
  const statistics = collectNeuralStatistics(model, samples, { gram: true });
  const horizon = options.measure as MeasureHorizon | undefined;
  return horizon ? measuredCalibration(model, samples, statistics, { horizon }) : statistics;
}

export function registerQuantizeWeights(program: Command): void {
  const command = program
    .command("quantize-weights")
    .description("Quantize the weights of a neural-network model (coremltools' quantize_weights)")
    .argument("<input>", "neural-network model (.mlmodel)")
    .option("--nbits <n>", "16 for float16, or 1 to 8 bits per weight (or --config)")
    .option(
      "--config <file>",
      "YAML or JSON: bits and mode per layer (`op_name_configs`, as `recipe` writes), optionally `global_config` for the rest",
    )
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
    .option(
      "--algorithm <a>",
      "kmeans_lut: sensitive-kmeans weighs each weight by its input's energy on calibration samples (--data, --inputs or --samples); gptq-kmeans also picks the indices by GPTQ onto each table and refits it",
    )
    .option(
      "--measure <horizon>",
      "sensitive-kmeans or gptq-kmeans: choose each layer's table by measuring the candidates on the samples, at the layer's output (layer) or the model's (output: slower, one resumed run per candidate, layer and sample)",
    )
    .option(
      "--sequential",
      "sensitive-kmeans or gptq-kmeans: fit the layers in network order, each to statistics gathered through the layers before it, already quantized (one calibration run per layer)",
    )
    .option(
      "--compensate",
      "sensitive-kmeans or gptq-kmeans, sequentially: fit each layer to give the float network's output from its quantized inputs (one more run of the float network per layer)",
    )
    .option(...WORKERS_OPTION);
  sampleOptions(command, "16");
  outputOptions(command, "quantized")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize quantize-weights model.mlmodel -o model-int8.mlmodel --nbits 8 --check 4
  coreml-optimize quantize-weights model.mlmodel -o model-fp16.mlmodel --nbits 16
  coreml-optimize quantize-weights model.mlmodel -o out.mlmodel --nbits 4 --mode kmeans_lut --skip-layer-types batchnorm
  coreml-optimize quantize-weights model.mlmodel -o out.mlmodel --nbits 4 --mode kmeans_lut --algorithm sensitive-kmeans --data image=photos.npy
  coreml-optimize quantize-weights model.mlmodel -o out.mlmodel --config recipe.yaml

recipe.yaml (layers not named are left alone without a global_config):
  op_name_configs:
    conv1: { nbits: 8, mode: linear }
    conv10: { nbits: 4, mode: kmeans_lut, algorithm: sensitive-kmeans }  # with --data, --inputs or --samples`,
    )
    .action(async (input: string, options: QuantizeWeightsCliOptions & SampleFlags) => {
      const flagSettings = quantizeWeightsSettings(options);
      const { skipLayers, configLayers, configCalibrates, ...settings } = options.config
        ? await withConfigFile(options.config, flagSettings)
        : { ...flagSettings, configLayers: undefined, configCalibrates: false };
      const algorithm = algorithmOf(options, configCalibrates);
      const calibrated = algorithm !== undefined || configCalibrates;
      const sequential = options.sequential || options.compensate;
      if (sequential && !calibrated) {
        const flag = options.compensate ? "--compensate" : "--sequential";
        throw new ConfigError(`${flag} calibrates --algorithm sensitive-kmeans or gptq-kmeans`);
      }
      await runWrite({
        command: "quantize-weights",
        input,
        flags: options,
        verb: "quantized",
        otherInputs: [options.config, options.inputs],
        work: async (model: MLModel, onProgress) => {
          if (skipLayers) checkLayerNames(skipLayers, model);
          if (configLayers) {
            checkLayerNames(configLayers, model, `${options.config}: op_name_configs`);
          }
          const events = new Map<string, QuantizedFieldEvent>();
          const quantize = {
            ...settings,
            ...(algorithm && { algorithm }),
            keepLossy: options.keepLossy,
            fuse: options.fuse,
            onField: (event: QuantizedFieldEvent) =>
              events.set(`${event.layer}/${event.field}`, event),
            workers: parseWorkers(options.workers),
          };
          const quantized = !calibrated
            ? await quantizeWeights(model, { ...quantize, onProgress })
            : sequential
              ? await quantizeWeightsSequentially(model, await samplesOf(model, options), {
                  ...quantize,
                  compensate: options.compensate,
                  measure: options.measure as MeasureHorizon | undefined,
                  onCalibrationProgress: onProgress,
                })
              : await quantizeWeights(model, {
                  ...quantize,
                  calibration: await calibrationOf(model, options),
                  onProgress,
                });
          const fields = fieldOutcomes(
            neuralNetworkWeights(model.spec),
            neuralNetworkWeights(quantized.spec),
            events,
          );
          const { weights, skipped, notes } = reportLines(fields);
          return {
            model: quantized,
            weights,
            skipped,
            ...mergeAdvice([
              { warnings: notes, hints: [] },
              float16Advice(fields, options.keepLossy ?? false),
            ]),
          };
        },
      });
    });
}
