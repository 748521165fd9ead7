/**
 * `quantizeWeights`: coremltools' `quantize_weights` for neural-network models. Float32 weights
 * become float16 (nbits 16) or n-bit indices (1–8) with per-channel linear parameters or a
 * look-up table, in every network of the model (pipelines, branches and loops included).
 *
 * Beyond coremltools, float16 weights are quantized too (from their float values) below 16 bits;
 * weights already stored quantized are kept as they are, and both are reported per field.
 */
import { elementCount } from "../kernels/dtype.js";
import type { ProgressCallback } from "../progress.js";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { ModelSchema } from "../format/gen/Model_pb.js";
import {
  LinearQuantizationParamsSchema,
  LookUpTableQuantizationParamsSchema,
  QuantizationParamsSchema,
  type NeuralNetworkLayer,
  type QuantizationParams,
  type WeightParams,
} from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/model.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import {
  floatToHalfArray,
  halfRangeLoss,
  hasHalfRangeLoss,
  roundToHalf,
  type HalfRangeLoss,
} from "../kernels/fp16.js";
import { snrDb } from "../kernels/snr.js";
import { kmeans1DCentroids } from "../kernels/palettize/kmeans1d.js";
import {
  linearLookupTable,
  nearestEntries,
  packBitsMsbFirst,
  quantizeLinear,
  type ChannelLayout,
} from "../kernels/neural-quantization.js";
import { dequantizeWeightParams, weightStorage, type WeightStorage } from "../neural/dequantize.js";
import { quantizableFields } from "../neural/weight-fields.js";
import {
  QUANTIZABLE_LAYER_TYPES,
  defaultLayerSelector,
  type LayerSelector,
} from "../neural/selectors.js";
import { nestedNetworks, neuralNetworkOf, neuralNetworksIn, walkLayers } from "../neural/walk.js";
import { neuralNetworkWeights } from "../neural/weights.js";
import { validateNeuralNetworkWeights } from "../neural/validate.js";
import { OWN_POOL_MINIMUM_BYTES, type TaskPool } from "../parallel/task-pool.js";
import { createDefaultPool } from "../parallel/default-pool.js";
import { fuseBeforeQuantization } from "./neural-fuse.js";
import type { InputStatistics } from "./calibration.js";
import { candidateTables, sensitiveTable, type SensitiveTable } from "./sensitive-kmeans.js";

export const NN_QUANTIZATION_MODES = [
  "linear",
  "linear_symmetric",
  "kmeans_lut",
  "kmeans",
  "linear_lut",
  "custom_lut",
] as const;
export type NeuralQuantizationMode = (typeof NN_QUANTIZATION_MODES)[number];

/** A custom table: given the weights (row-major, `shape`), 2^nbits entries and one index per weight. */
export type LutFunction = (
  nbits: number,
  weights: Float64Array,
  shape: readonly number[],
) => { lut: ArrayLike<number>; indices: ArrayLike<number> };

/** One layer's own settings (see `QuantizeWeightsOptions.layers`). */
export interface LayerQuantization {
  nbits: number;
  mode?: NeuralQuantizationMode;
  /** kmeans_lut only: as `QuantizeWeightsOptions.algorithm`, for this layer. */
  algorithm?: NeuralKmeansAlgorithm;
}

export interface QuantizeWeightsOptions {
  /**
   * 16 for float16, or 1–8 bits per weight. Required unless `layers` is given: without it only
   * the layers `layers` names are quantized.
   */
  nbits?: number;
  /** Default "linear"; "kmeans" is an old name of "kmeans_lut". */
  mode?: NeuralQuantizationMode;
  /**
   * Layers (by name) quantized with their own nbits and mode instead of the global ones (a
   * mixed-bit recipe); the selector still decides whether they are quantized at all.
   */
  layers?: Readonly<Record<string, LayerQuantization>>;
  selector?: LayerSelector;
  /** Required by "custom_lut". */
  lutFunction?: LutFunction;
  /** Runs k-means clustering of separate weights on worker threads. */
  pool?: TaskPool;
  /**
   * Without a pool: worker threads to start for k-means (default: one per core for models of
   * 64 MB or more, none below; 0 runs it on the calling thread). Other modes run inline.
   */
  workers?: number;
  /** At 16 bits: keep in float32 the fields float16 would hold badly (see `Float16Loss`). */
  keepLossy?: boolean;
  /**
   * At 16 bits: fuse batchnorm, scale and bias layers into the layers before them first, as
   * is always done below 16 bits (a batchnorm's variance then no longer needs to fit float16).
   */
  fuse?: boolean;
  /** Told what became of each non-empty weight field of the selected layers. */
  onField?: (event: QuantizedFieldEvent) => void;
  /** Called after each selected layer, with how many of them are done. */
  onProgress?: ProgressCallback;
  /**
   * kmeans_lut: "sensitive-kmeans" weighs each convolution or innerProduct weight by the
   * energy of the input it multiplies (see `calibration`; other weights get plain k-means);
   * "gptq-kmeans" then also chooses the indices by GPTQ onto each candidate table and refits
   * the table to them (needs the Gram matrices). It applies to every kmeans_lut layer; a layer
   * in `layers` may also name it alone.
   */
  algorithm?: NeuralKmeansAlgorithm;
  /** The layers' input statistics by layer name (collectNeuralStatistics), for `algorithm`. */
  calibration?: LayerCalibration;
}

export const NN_KMEANS_ALGORITHMS = ["sensitive-kmeans", "gptq-kmeans"] as const;
export type NeuralKmeansAlgorithm = (typeof NN_KMEANS_ALGORITHMS)[number];

/** Input statistics of a network's weights, by the name of the layer holding them. */
export interface LayerCalibration {
  statistics(layer: string): InputStatistics | undefined;
  /**
   * Optional: measures on calibration data what each candidate weight of a layer (by name;
   * values in the layer's weight order) would do to the model, one error per candidate (lower
   * is better); sensitive k-means then keeps each layer's least. Without it, or for layers it
   * gives no errors, each keeps the least by the statistics alone (see sensitive-kmeans.ts).
   */
  measure?(
    candidates: ReadonlyMap<string, readonly Float32Array[]>,
  ): Promise<ReadonlyMap<string, readonly number[]>>;
}

/**
 * What became of one weight field: quantized (from float32, or from float16 values, which
 * coremltools would not do), or kept because its storage is already as small or smaller.
 */
export interface QuantizedFieldEvent {
  layer: string;
  field: string;
  /** How the input stored the field. */
  from: WeightStorage["kind"];
  outcome: "quantized" | "already float16" | "already quantized" | "kept in float32";
  /** At 16 bits: how badly float16 holds the field, when it matters (see `float16Loss`). */
  float16Loss?: Float16Loss;
  /** Sensitive k-means: the exponent α of the input energies that weighed its elements. */
  importanceExponent?: number;
  /** Sensitive k-means: weighed by the input energy where the ReLU after the layer passes. */
  reluActive?: boolean;
}

/**
 * What rounding a float32 field to float16 loses beyond float16's normal rounding (which keeps
 * a field's SNR near 70 dB): values out of range, and what they do to the field.
 */
export interface Float16Loss extends HalfRangeLoss {
  /** Signal-to-noise ratio of the rounded field. */
  snrDb: number;
  /**
   * A batchnorm field: channels whose transform a·x + b moves by more than 1% (a = γ/√(σ² + ε),
   * b = β − μ·a; b measured against |a| + |b|).
   */
  channels?: number;
  /**
   * A constant of integers (shapes, indices, sizes): how many float16 cannot hold exactly
   * (above 2048 it keeps only multiples of 2, 4, 8…).
   */
  inexactIntegers?: number;
}

/** Below this, a field's float16 rounding is worse than float16's normal relative precision. */
const FLOAT16_SNR_FLOOR = 60;
/** How far a batchnorm channel's transform may move before the field counts as lost. */
const BATCHNORM_TOLERANCE = 0.01;

/**
 * For a field of a batchnorm with stored statistics: how many channels' transform a·x + b
 * moves by more than BATCHNORM_TOLERANCE when only that field is rounded to float16 (a tiny
 * mean next to a large variance moves nothing; a variance past 65504 zeroes its channel).
 */
function batchnormChannels(layer: NeuralNetworkLayer, field: string): number | undefined {
  if (layer.layer.case !== "batchnorm" || layer.layer.value.computeMeanVar) return undefined;
  const p = layer.layer.value;
  const names = ["gamma", "beta", "mean", "variance"] as const;
  type Name = (typeof names)[number];
  if (!names.includes(field as Name) || names.some((name) => !p[name])) return undefined;
  const exact = Object.fromEntries(
    names.map((name) => [name, dequantizeWeightParams(p[name]!)]),
  ) as Record<Name, Float32Array>;
  const rounded: Record<Name, Float32Array> = { ...exact };
  rounded[field as Name] = exact[field as Name].map(roundToHalf);
  const { gamma, beta, mean, variance } = rounded;
  let moved = 0;
  for (let c = 0; c < exact.gamma.length; c++) {
    const a = exact.gamma[c] / Math.sqrt(exact.variance[c] + p.epsilon);
    const b = exact.beta[c] - exact.mean[c] * a;
    const a2 = gamma[c] / Math.sqrt(variance[c] + p.epsilon);
    const b2 = beta[c] - mean[c] * a2;
    const tolerance = BATCHNORM_TOLERANCE * (Math.abs(a) + Math.abs(b));
    if (!(Math.abs(a2 - a) <= BATCHNORM_TOLERANCE * Math.abs(a) && Math.abs(b2 - b) <= tolerance)) {
      moved++;
    }
  }
  return moved;
}

/**
 * The loss of rounding `values` (field `field` of `layer`) to float16, when it matters: any
 * infinity, a field SNR below FLOAT16_SNR_FLOOR, batchnorm channels whose factor moves, or
 * integer constants that change.
 */
export function float16Loss(
  layer: NeuralNetworkLayer,
  field: string,
  values: ArrayLike<number>,
): Float16Loss | undefined {
  const range = halfRangeLoss(values);
  const kind = layer.layer.case;
  const constant = kind === "loadConstant" || kind === "loadConstantND";
  const integers = constant && Array.prototype.every.call(values, Number.isInteger);
  let inexactIntegers = 0;
  if (integers) {
    // Integers past float16's range are counted as overflow instead.
    for (let i = 0; i < values.length; i++) {
      const rounded = roundToHalf(values[i]);
      if (Number.isFinite(rounded) && rounded !== values[i]) inexactIntegers++;
    }
  }
  if (!hasHalfRangeLoss(range) && inexactIntegers === 0) return undefined;
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < values.length; i++) {
    signal += values[i] ** 2;
    noise += (roundToHalf(values[i]) - values[i]) ** 2;
  }
  const loss: Float16Loss = { ...range, snrDb: snrDb(signal, noise) };
  if (inexactIntegers > 0) return { ...loss, inexactIntegers };
  const channels = batchnormChannels(layer, field);
  if (channels !== undefined) return channels > 0 ? { ...loss, channels } : undefined;
  return range.overflow > 0 || !(loss.snrDb >= FLOAT16_SNR_FLOOR) ? loss : undefined;
}

/** Lowest specification versions that can hold float16, and quantized, weights. */
const FLOAT16_SPEC_VERSION = 2;
const QUANTIZED_SPEC_VERSION = 3;

export async function quantizeWeights(
  model: MLModel,
  options: QuantizeWeightsOptions,
): Promise<MLModel> {
  const modes = [options.mode, ...Object.values(options.layers ?? {}).map((l) => l.mode)];
  const kmeans = modes.some((mode) => (mode ?? "linear").startsWith("kmeans"));
  const large = () => toBinary(ModelSchema, model.spec).length >= OWN_POOL_MINIMUM_BYTES;
  const wanted = options.workers === undefined ? kmeans && large() : options.workers > 0;
  const ownPool =
    !options.pool && kmeans && wanted ? createDefaultPool(options.workers) : undefined;
  try {
    return await quantizeWith(model, { ...options, pool: options.pool ?? ownPool });
  } finally {
    await ownPool?.close();
  }
}

async function quantizeWith(model: MLModel, options: QuantizeWeightsOptions): Promise<MLModel> {
  validateNeuralNetworkWeights(model);
  const settings = validate(model, options);
  const spec = clone(ModelSchema, model.spec);
  // Fields are rewritten independently; only k-means clustering is asynchronous.
  const layers: NeuralNetworkLayer[] = [];
  for (const { model: nested } of modelTree(spec)) {
    const network = neuralNetworkOf(nested);
    if (!network) continue;
    const minimum = lowestBits(settings) === 16 ? FLOAT16_SPEC_VERSION : QUANTIZED_SPEC_VERSION;
    nested.specificationVersion = Math.max(minimum, nested.specificationVersion);
    selectLayers(network, settings, layers);
  }
  const chosen = await measuredTables(layers, settings);
  const pending: Promise<void>[] = [];
  const progress = (done: number) =>
    options.onProgress?.({ done, total: layers.length, name: layers[done]?.name ?? "" });
  try {
    progress(0);
    layers.forEach((layer, i) => {
      quantizeLayer(layer, settings, options.onField, pending, chosen.get(layer.name));
      progress(i + 1);
    });
  } catch (error) {
    // Let clustering already under way finish (or fail) before reporting the first error.
    await Promise.allSettled(pending);
    throw error;
  }
  await Promise.all(pending);
  return model.derive(spec, new Map(model.weightFiles));
}

/** A layer whose weights `quantizeWeights` would fit to calibration statistics. */
export interface CalibratedLayer {
  name: string;
  /** The blob its weights multiply. */
  input: string;
}

/** Layer kinds whose weights multiply their input (what calibration statistics describe). */
const MULTIPLYING_KINDS = new Set(["convolution", "innerProduct"]);

/** Statistics for none of the layers: enough to plan a calibrated quantization before any run. */
const NO_STATISTICS: LayerCalibration = { statistics: () => undefined };

/**
 * The layers `options` would quantize with a k-means algorithm reading calibration statistics
 * (convolutions and innerProducts below 16 bits), in network order, as quantizeWeights sees the
 * networks (fused); `options.calibration` may still be missing.
 */
export function calibratedLayers(
  model: MLModel,
  options: QuantizeWeightsOptions,
): CalibratedLayer[] {
  const settings = validate(model, {
    ...options,
    calibration: options.calibration ?? NO_STATISTICS,
  });
  const spec = clone(ModelSchema, model.spec);
  const layers: NeuralNetworkLayer[] = [];
  for (const { model: nested } of modelTree(spec)) {
    const network = neuralNetworkOf(nested);
    if (network) selectLayers(network, settings, layers);
  }
  return layers
    .filter((layer) => {
      const { nbits, mode, algorithm } = settingsFor(layer, settings)!;
      const deconvolution = layer.layer.case === "convolution" && layer.layer.value.isDeconvolution;
      return (
        algorithm !== undefined &&
        mode === "kmeans_lut" &&
        nbits < 16 &&
        MULTIPLYING_KINDS.has(layer.layer.case ?? "") &&
        !deconvolution &&
        sensitiveField(layer) !== undefined
      );
    })
    .map((layer) => ({ name: layer.name, input: layer.input[0] }));
}

type Mode = Exclude<NeuralQuantizationMode, "kmeans">;

interface Settings {
  /** The global bits and mode; undefined when only the layers in `layers` are quantized. */
  nbits?: number;
  mode: Mode;
  /** The k-means algorithm of kmeans_lut layers without their own. */
  algorithm?: NeuralKmeansAlgorithm;
  /** Layers with their own bits, mode and algorithm. */
  layers: ReadonlyMap<string, { nbits: number; mode: Mode; algorithm?: NeuralKmeansAlgorithm }>;
  keepLossy: boolean;
  fuse: boolean;
  selector: LayerSelector;
  lutFunction?: LutFunction;
  pool?: TaskPool;
  calibration?: LayerCalibration;
}

/** The settings one layer's fields are quantized with. */
type LayerSettings = Settings & { nbits: number };

/** A layer's own settings, else the global ones; undefined when it is left alone. */
function settingsFor(layer: NeuralNetworkLayer, settings: Settings): LayerSettings | undefined {
  const own = settings.layers.get(layer.name);
  if (own) {
    const algorithm = own.mode === "kmeans_lut" ? (own.algorithm ?? settings.algorithm) : undefined;
    return { ...settings, ...own, algorithm };
  }
  return settings.nbits === undefined ? undefined : (settings as LayerSettings);
}

/** The fewest bits any layer gets (below 16, networks are fused and need spec 3). */
function lowestBits(settings: Settings): number {
  return Math.min(settings.nbits ?? 16, ...[...settings.layers.values()].map((l) => l.nbits));
}

/** Checks bits and mode; `where` prefixes errors (a layer's name, or "" for the global ones). */
function validBitsAndMode(
  nbits: number,
  given: NeuralQuantizationMode | undefined,
  algorithm: NeuralKmeansAlgorithm | undefined,
  options: QuantizeWeightsOptions,
  where: string,
): Mode {
  const mode = given ?? "linear";
  if (!NN_QUANTIZATION_MODES.includes(mode)) {
    throw new ConfigError(
      `${where}unknown quantization mode "${mode}" (one of ${NN_QUANTIZATION_MODES.join(", ")})`,
    );
  }
  if (!Number.isInteger(nbits) || !((nbits >= 1 && nbits <= 8) || nbits === 16)) {
    throw new ConfigError(`${where}nbits must be 16 (float16) or 1 to 8, not ${nbits}`);
  }
  if (mode === "linear_symmetric" && nbits !== 8) {
    throw new ConfigError(`${where}linear_symmetric quantization needs nbits 8`);
  }
  if (algorithm !== undefined) checkAlgorithm(algorithm, options, mode, where);
  if (mode === "custom_lut" && !options.lutFunction) {
    throw new ConfigError(`${where}custom_lut quantization needs a lutFunction`);
  }
  return mode === "kmeans" ? "kmeans_lut" : mode;
}

/** Each named layer's settings; every name must be a layer of the model. */
function layerSettings(model: MLModel, options: QuantizeWeightsOptions): Settings["layers"] {
  const entries = Object.entries(options.layers ?? {});
  if (entries.length === 0) return new Map();
  const known = new Set<string>();
  for (const { network } of neuralNetworksIn(model.spec)) {
    for (const { layer } of walkLayers(network)) known.add(layer.name);
  }
  const unknown = entries.map(([name]) => name).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(`the model has no layer named ${unknown.join(", ")}`);
  }
  return new Map(
    entries.map(([name, l]) => [
      name,
      {
        nbits: l.nbits,
        mode: validBitsAndMode(l.nbits, l.mode, l.algorithm, options, `layer ${name}: `),
        ...(l.algorithm && { algorithm: l.algorithm }),
      },
    ]),
  );
}

function validate(model: MLModel, options: QuantizeWeightsOptions): Settings {
  const { nbits } = options;
  if (nbits === undefined && options.layers === undefined) {
    throw new ConfigError("nbits is required (or per-layer settings)");
  }
  // The global algorithm is checked against the global mode; named layers take it only where
  // they are kmeans_lut themselves.
  const mode =
    nbits === undefined
      ? "linear"
      : validBitsAndMode(nbits, options.mode, options.algorithm, options, "");
  if (nbits === undefined && options.algorithm !== undefined) {
    checkAlgorithm(options.algorithm, options, "kmeans_lut", "");
  }
  const models = [...modelTree(model.spec)].map((m) => m.model);
  if (!models.some((m) => neuralNetworkOf(m))) {
    if (models.some((m) => m.Type.case === "mlProgram")) {
      throw new UnsupportedError(
        "quantize-weights handles neural-network models; this is an ML program: use `quantize` (linear quantization) or the other ML program passes",
      );
    }
    throw new UnsupportedError(
      `the model (${model.spec.Type.case ?? "empty"}) holds no neural network`,
    );
  }
  if (neuralNetworkWeights(model.spec).length === 0) {
    throw new UnsupportedError("the model's neural networks hold no weights to quantize");
  }
  const layers = layerSettings(model, options);
  const anyHalf = nbits === 16 || [...layers.values()].some((l) => l.nbits === 16);
  if (anyHalf && model.spec.isUpdatable) {
    throw new ConfigError("updatable models cannot be quantized to float16");
  }
  return {
    nbits,
    layers,
    keepLossy: options.keepLossy ?? false,
    fuse: options.fuse ?? false,
    mode,
    selector: options.selector ?? defaultLayerSelector,
    lutFunction: options.lutFunction,
    pool: options.pool,
    ...(options.algorithm && { algorithm: options.algorithm }),
    ...((options.algorithm || [...layers.values()].some((l) => l.algorithm)) && {
      calibration: options.calibration,
    }),
  };
}

function checkAlgorithm(
  algorithm: NeuralKmeansAlgorithm,
  options: QuantizeWeightsOptions,
  mode: NeuralQuantizationMode,
  where: string,
): void {
  if (!NN_KMEANS_ALGORITHMS.includes(algorithm)) {
    throw new ConfigError(
      `${where}unknown k-means algorithm "${algorithm}" (one of ${NN_KMEANS_ALGORITHMS.join(", ")})`,
    );
  }
  if (mode !== "kmeans_lut" && mode !== "kmeans") {
    throw new ConfigError(`${where}algorithm ${algorithm} needs mode kmeans_lut, not ${mode}`);
  }
  if (!options.calibration) {
    throw new ConfigError(
      `${where}algorithm ${algorithm} needs calibration statistics (collectNeuralStatistics, --inputs, --data or --samples)`,
    );
  }
}

/** Layers whose weights coremltools leaves for the user to convert. */
const LEFT_ALONE = new Set(["custom"]);

/**
 * Appends the layers of `network` (and of networks nested in selected branches and loops) whose
 * weights get quantized; below 16 bits (or asked to), each network is fused first.
 */
function selectLayers(
  network: { layers: NeuralNetworkLayer[] },
  settings: Settings,
  out: NeuralNetworkLayer[],
): void {
  if (lowestBits(settings) < 16 || settings.fuse) fuseBeforeQuantization(network.layers);
  for (const layer of network.layers) {
    if (!settings.selector(layer)) continue;
    const kind = layer.layer.case ?? "unknown";
    if (kind === "branch" || kind === "loop") {
      for (const nested of nestedNetworks(layer)) selectLayers(nested, settings, out);
      continue;
    }
    if (LEFT_ALONE.has(kind) || !settingsFor(layer, settings)) continue;
    if (!QUANTIZABLE_LAYER_TYPES.includes(kind)) {
      throw new UnsupportedError(`layer ${layer.name}: ${kind} layers cannot be quantized`);
    }
    out.push(layer);
  }
}

/** A layer's weights field, when it holds float values sensitive k-means may cluster. */
function sensitiveField(layer: NeuralNetworkLayer) {
  const field = quantizableFields(layer).find((f) => f.field === "weights");
  const from = field && weightStorage(field.params).kind;
  return from === "float32" || from === "float16" ? field : undefined;
}

/**
 * With a calibration that measures (see `LayerCalibration.measure`): each kmeans_lut layer's
 * sensitive k-means candidates, measured together, and the least harmful kept, by layer name.
 */
async function measuredTables(
  layers: readonly NeuralNetworkLayer[],
  settings: Settings,
): Promise<Map<string, SensitiveTable>> {
  const calibration = settings.calibration;
  if (!calibration?.measure) return new Map();
  const candidates = new Map<string, SensitiveTable[]>();
  for (const layer of layers) {
    const { nbits, mode, algorithm } = settingsFor(layer, settings)!;
    const statistics = algorithm ? calibration.statistics(layer.name) : undefined;
    const field = sensitiveField(layer);
    if (mode !== "kmeans_lut" || nbits === 16 || !statistics || !field) continue;
    const weights = fieldWeights(field.params, field.layout, `layer ${layer.name} weights`);
    const errorFeedback = algorithm === "gptq-kmeans";
    const tables = candidateTables(weights, field.layout.shape, nbits, statistics, errorFeedback);
    if (tables.length > 0) candidates.set(layer.name, tables);
  }
  const decoded = new Map(
    [...candidates].map(([name, tables]) => [
      name,
      tables.map((t) => Float32Array.from(t.indices, (index) => t.lut[index])),
    ]),
  );
  const errors = await calibration.measure(decoded);
  const chosen = new Map<string, SensitiveTable>();
  for (const [name, tables] of candidates) {
    const measured = errors.get(name);
    if (measured?.length !== tables.length) continue;
    const best = measured.reduce((b, e, i) => (e < measured[b] ? i : b), 0);
    chosen.set(name, tables[best]);
  }
  return chosen;
}

function quantizeLayer(
  layer: NeuralNetworkLayer,
  all: Settings,
  onField: QuantizeWeightsOptions["onField"],
  pending: Promise<void>[],
  measured?: SensitiveTable,
): void {
  const settings = settingsFor(layer, all)!;
  for (const { field, params, layout, selectableBias } of quantizableFields(layer)) {
    if (selectableBias && !settings.selector(layer, "bias")) continue;
    const from = weightStorage(params).kind;
    if (from === "empty") continue;
    const loss =
      settings.nbits === 16 && from === "float32"
        ? float16Loss(layer, field, params.floatValue)
        : undefined;
    // Sensitive k-means: the statistics of what the layer's weights (not its bias) multiply.
    const statistics =
      field === "weights" && settings.algorithm
        ? settings.calibration?.statistics(layer.name)
        : undefined;
    const sensitive: { table?: SensitiveTable } = {};
    const outcome =
      loss && settings.keepLossy
        ? "kept in float32"
        : quantizeField(params, layout, settings, `layer ${layer.name} ${field}`, pending, {
            statistics,
            measured: field === "weights" ? measured : undefined,
            chosen: sensitive,
          });
    onField?.({
      layer: layer.name,
      field,
      from,
      outcome,
      ...(loss && { float16Loss: loss }),
      ...(sensitive.table && { importanceExponent: sensitive.table.exponent }),
      ...(sensitive.table?.reluActive && { reluActive: true }),
    });
  }
}

/** Rewrites one field (k-means tables are appended to `pending`), or says why it is kept. */
function quantizeField(
  params: WeightParams,
  layout: ChannelLayout,
  settings: LayerSettings,
  where: string,
  pending: Promise<void>[],
  sensitivity: {
    statistics?: InputStatistics;
    /** The table a measurement chose (see `measuredTables`). */
    measured?: SensitiveTable;
    chosen: { table?: SensitiveTable };
  } = { chosen: {} },
): "quantized" | "already float16" | "already quantized" {
  const { nbits, mode } = settings;
  const from = weightStorage(params).kind;
  if (from === "float16" && nbits === 16) return "already float16";
  if (from !== "float32" && from !== "float16") return "already quantized";
  if (nbits === 16) {
    params.float16Value = halfBytes(Float32Array.from(params.floatValue));
    params.floatValue = [];
    return "quantized";
  }
  const weights = fieldWeights(params, layout, where);
  const sensitive =
    mode === "kmeans_lut" && sensitivity.statistics
      ? (sensitivity.measured ??
        sensitiveTable(
          weights,
          layout.shape,
          nbits,
          sensitivity.statistics,
          settings.algorithm === "gptq-kmeans",
        ))
      : undefined;
  if (sensitive) {
    sensitivity.chosen.table = sensitive;
    storeTable(params, nbits, sensitive);
  } else if (mode === "kmeans_lut") {
    pending.push(quantizeWithKmeans(params, weights, settings));
  } else if (mode === "linear" || mode === "linear_symmetric") {
    const linear = quantizeLinear(weights, layout, nbits, mode === "linear_symmetric");
    store(params, nbits, linear.indices, {
      case: "linearQuantization",
      value: create(LinearQuantizationParamsSchema, {
        scale: Array.from(linear.scale),
        bias: Array.from(linear.bias),
      }),
    });
  } else if (mode === "linear_lut") {
    storeTable(params, nbits, linearLookupTable(weights, nbits));
  } else {
    storeTable(params, nbits, customTable(weights, layout, settings, where));
  }
  return "quantized";
}

async function quantizeWithKmeans(
  params: WeightParams,
  weights: Float64Array,
  settings: LayerSettings,
): Promise<void> {
  const size = 2 ** settings.nbits;
  const job = { values: weights, k: Math.min(weights.length, size) };
  const centroids = settings.pool
    ? await settings.pool.run<Float64Array>("kmeans1DCentroids", job)
    : kmeans1DCentroids(job);
  // The stored table is float32: assign each weight to its nearest stored entry.
  const lut = new Float32Array(size);
  lut.set(centroids);
  storeTable(params, settings.nbits, { lut, indices: nearestEntries(weights, lut) });
}

/** The float32 or float16 values of a field, which must fill the layer's shape. */
function fieldWeights(params: WeightParams, layout: ChannelLayout, where: string): Float64Array {
  const count = elementCount(layout.shape);
  const values = dequantizeWeightParams(params, layout, where);
  if (values.length !== count) {
    throw new UnsupportedError(
      `${where}: ${values.length} values do not fit the layer's shape [${layout.shape.join(", ")}]`,
    );
  }
  return Float64Array.from(values);
}

function store(
  params: WeightParams,
  nbits: number,
  indices: ArrayLike<number>,
  type: QuantizationParams["QuantizationType"],
): void {
  params.quantization = create(QuantizationParamsSchema, {
    numberOfBits: BigInt(nbits),
    QuantizationType: type,
  });
  params.rawValue = packBitsMsbFirst(indices, nbits);
  params.floatValue = [];
  params.float16Value = new Uint8Array(0);
}

function storeTable(
  params: WeightParams,
  nbits: number,
  table: { lut: ArrayLike<number>; indices: ArrayLike<number> },
): void {
  store(params, nbits, table.indices, {
    case: "lookupTableQuantization",
    value: create(LookUpTableQuantizationParamsSchema, { floatValue: Array.from(table.lut) }),
  });
}

function customTable(
  weights: Float64Array,
  layout: ChannelLayout,
  settings: LayerSettings,
  where: string,
): { lut: ArrayLike<number>; indices: ArrayLike<number> } {
  const size = 2 ** settings.nbits;
  const result = settings.lutFunction!(settings.nbits, weights, layout.shape);
  if (result.indices.length !== weights.length) {
    throw new ConfigError(
      `${where}: lutFunction returned ${result.indices.length} indices for ${weights.length} weights`,
    );
  }
  for (let i = 0; i < result.indices.length; i++) {
    const index = result.indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= size) {
      throw new ConfigError(
        `${where}: lutFunction returned index ${index}, outside 0..${size - 1}`,
      );
    }
  }
  return result;
}

function halfBytes(values: Float32Array): Uint8Array {
  const halves = floatToHalfArray(values);
  const bytes = new Uint8Array(halves.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < halves.length; i++) view.setUint16(2 * i, halves[i], true);
  return bytes;
}
