/**
 * Input statistics of a neural network's (.mlmodel) convolution and innerProduct weights, for
 * sensitivity-weighted k-means in `quantizeWeights`: the network runs on calibration samples
 * and, just before each such layer runs, what its weights multiply is summed in float64 — a
 * convolution's im2col patches (per group; columns in the weight's (c, ky, kx) order), an
 * innerProduct's input vectors — as XᵀX or only its diagonal, as for ML programs
 * (statistics.ts). Deconvolutions are not covered (their weights get plain k-means).
 */
import { ConfigError, UnsupportedError } from "../errors.js";
import type { ConvolutionLayerParams, NeuralNetworkLayer } from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import { writePatch, type Window2d } from "../kernels/ops/conv.js";
import { mirrorUpper } from "../kernels/gram.js";
import { neuralNetworkOf, walkLayers } from "../neural/walk.js";
import type { InputStatistics } from "../passes/calibration.js";
import type { ProgressCallback } from "../progress.js";
import { samePads } from "../runtime/layers/convolution.js";
import { borderPads, channelView, num, pair } from "../runtime/layers/params.js";
import { NeuralNetworkInterpreter } from "../runtime/neural-network.js";
import { Accumulator, addPatches, combine } from "./statistics.js";

export interface NeuralStatisticsOptions {
  /** Also the full Gram matrices (sensitive k-means then chooses its exponent by them). */
  gram?: boolean;
  /**
   * The float network `model` was quantized from: each sample also runs through it, and each
   * layer's statistics gain `crossGram`, Σ x_ref·xᵀ with x_ref its input there (implies gram).
   */
  reference?: MLModel;
  /** Only these layers' statistics (default: every layer's). */
  layers?: ReadonlySet<string>;
  /** Called after each sample has run. */
  onProgress?: ProgressCallback;
}

/** The input statistics of a network's weights, by layer name. */
export class LayerStatisticsTable {
  constructor(
    readonly layers: ReadonlyMap<string, InputStatistics>,
    /** Samples the statistics were gathered over. */
    readonly samples: number,
  ) {}

  statistics(layer: string): InputStatistics | undefined {
    return this.layers.get(layer);
  }
}

/** Vectors transposed at a time for an innerProduct (bounds the chunk buffer). */
const CHUNK_VECTORS = 256;

/** The window of a convolution over an input of [h, w]: kernel, strides, dilations and pads. */
export function convWindow(p: ConvolutionLayerParams, [h, w]: [number, number]): Window2d {
  const kernel = pair(p.kernelSize, 3);
  const strides = pair(p.stride, 1);
  const dilations = pair(p.dilationFactor, 1);
  const pads =
    p.ConvolutionPaddingType.case === "same"
      ? samePads(p.ConvolutionPaddingType.value, [h, w], kernel, strides, dilations)
      : borderPads(p.ConvolutionPaddingType.value?.paddingAmounts);
  return { kernel, strides, dilations, pads };
}

/** Adds a layer's input to its sums (`make` creates them on first use), if the layer is covered. */
type LayerSums = (layer: NeuralNetworkLayer, x: Dense, make: Make) => void;
type Make = (inputAxes: number[], groups: number, columns: number) => Sums;
type Sums = Pick<Accumulator, "add">;

const LAYER_SUMS: Partial<Record<string, LayerSums>> = {
  convolution(layer, x, make) {
    if (layer.layer.case !== "convolution" || layer.layer.value.isDeconvolution) return;
    const p = layer.layer.value;
    const groups = Math.max(1, num(p.nGroups));
    const [n, c, h, w] = channelView(x);
    const window = convWindow(p, [h, w]);
    const sums = make([1, 2, 3], groups, (c / groups) * window.kernel[0] * window.kernel[1]);
    addPatches(sums, { shape: [n, c, h, w], data: x.data }, window, groups);
  },
  innerProduct(layer, x, make) {
    if (layer.layer.case !== "innerProduct") return;
    const columns = num(layer.layer.value.inputChannels);
    const vectors = x.data.length / columns;
    if (!Number.isInteger(vectors)) return;
    const sums = make([1], 1, columns);
    const chunk = new Float64Array(columns * Math.min(CHUNK_VECTORS, vectors));
    for (let first = 0; first < vectors; first += CHUNK_VECTORS) {
      const count = Math.min(CHUNK_VECTORS, vectors - first);
      for (let v = 0; v < count; v++) {
        const base = (first + v) * columns;
        for (let j = 0; j < columns; j++) chunk[j * count + v] = x.data[base + j];
      }
      sums.add(0, chunk, count);
    }
  },
};

/** Convolutions whose output only a ReLU reads, by name, with that output's name. */
export function reluFed(layers: Iterable<NeuralNetworkLayer>): Map<string, string> {
  const readers = new Map<string, NeuralNetworkLayer[]>();
  const all = [...layers];
  for (const layer of all)
    for (const input of layer.input) readers.set(input, [...(readers.get(input) ?? []), layer]);
  const out = new Map<string, string>();
  for (const layer of all) {
    if (layer.layer.case !== "convolution" || layer.layer.value.isDeconvolution) continue;
    const read = readers.get(layer.output[0]) ?? [];
    const relu = read.every(
      (r) => r.layer.case === "activation" && r.layer.value.NonlinearityType.case === "ReLU",
    );
    if (read.length > 0 && relu) out.set(layer.name, layer.output[0]);
  }
  return out;
}

/**
 * Adds to `energy` (rows × columns) the squares of each patch of `x` for the rows (output
 * channels) whose output `y` at the patch's position is positive.
 */
function addActiveEnergy(
  energy: Float64Array,
  layer: NeuralNetworkLayer,
  x: Dense,
  y: Dense,
): void {
  if (layer.layer.case !== "convolution") return;
  const p = layer.layer.value;
  const groups = Math.max(1, num(p.nGroups));
  const [n, c, h, w] = channelView(x);
  const [, rows, oh, ow] = channelView(y);
  const win = convWindow(p, [h, w]);
  const [kh, kw] = win.kernel;
  const perGroup = c / groups;
  const rowsPerGroup = rows / groups;
  const columns = perGroup * kh * kw;
  const squares = new Float64Array(columns);
  for (let image = 0; image < n; image++) {
    for (let g = 0; g < groups; g++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          squares.fill(0);
          const planes = (image * c + g * perGroup) * h * w;
          writePatch(squares, 0, 1, x.data, planes, perGroup, [h, w], win, oy, ox);
          for (let j = 0; j < columns; j++) squares[j] *= squares[j];
          for (let r = g * rowsPerGroup; r < (g + 1) * rowsPerGroup; r++) {
            if (!(y.data[((image * rows + r) * oh + oy) * ow + ox] > 0)) continue;
            const base = r * columns;
            for (let j = 0; j < columns; j++) energy[base + j] += squares[j];
          }
        }
      }
    }
  }
}

/**
 * Sums that add each chunk stacked under the reference run's chunk in the same place: columns
 * [x_ref; x], so the Gram matrix holds Σ x_ref·xᵀ beside Σ x·xᵀ (see splitPaired).
 */
function pairedSums(sums: Accumulator, reference: Float64Array[], columns: number): Sums {
  let next = 0;
  return {
    add(group, byColumn, count) {
      const ref = reference[next++];
      if (ref?.length !== columns * count) {
        throw new UnsupportedError("the reference network's layer inputs differ in shape");
      }
      const both = new Float64Array(2 * columns * count);
      both.set(ref);
      both.set(byColumn.subarray(0, columns * count), columns * count);
      sums.add(group, both, count);
    },
  };
}

/** Statistics of stacked [x_ref; x] columns as those of x, with Σ x_ref·xᵀ as crossGram. */
function splitPaired(paired: InputStatistics): InputStatistics {
  const columns = paired.columns / 2;
  const { groups } = paired;
  const size = columns * columns;
  const full = paired.gram!;
  const gram = new Float64Array(groups * size);
  const crossGram = new Float64Array(groups * size);
  const diagonal = new Float64Array(groups * columns);
  for (let g = 0; g < groups; g++) {
    const base = g * 4 * size;
    for (let i = 0; i < columns; i++) {
      diagonal[g * columns + i] = paired.diagonal[g * 2 * columns + columns + i];
      for (let j = 0; j < columns; j++) {
        gram[g * size + i * columns + j] = full[base + (columns + i) * 2 * columns + columns + j];
        crossGram[g * size + i * columns + j] = full[base + i * 2 * columns + columns + j];
      }
    }
  }
  return { ...paired, columns, diagonal, gram, crossGram };
}

/** Runs `samples` through the network and sums its convolution and innerProduct inputs. */
export function collectNeuralStatistics(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: NeuralStatisticsOptions = {},
): LayerStatisticsTable {
  if (samples.length === 0) throw new ConfigError("calibration needs at least one sample");
  const network = neuralNetworkOf(model.spec);
  if (!network) throw new UnsupportedError("the model is not a neural network");
  const layers = new Map<string, NeuralNetworkLayer>();
  for (const { layer } of walkLayers(network)) layers.set(layer.name, layer);
  const interpreter = NeuralNetworkInterpreter.fromSpec(model.spec);
  const accumulators = new Map<string, Accumulator>();
  const reference = options.reference && NeuralNetworkInterpreter.fromSpec(options.reference.spec);
  const gram = (options.gram ?? false) || reference !== undefined;
  // Per layer, the reference run's chunks, in the order the same sums take them from this run.
  const recorded = new Map<string, Float64Array[]>();
  const wanted = (name: string) => !options.layers || options.layers.has(name);
  const record = ({ name }: { name: string }, [x]: readonly Dense[]) => {
    const layer = layers.get(name);
    const sums = layer?.layer.case && LAYER_SUMS[layer.layer.case];
    if (!wanted(name) || !layer || !sums || !x) return;
    const chunks: Float64Array[] = [];
    recorded.set(name, chunks);
    sums(layer, x, (_axes, _groups, columns) => ({
      add: (_group, byColumn, count) => chunks.push(byColumn.slice(0, columns * count)),
    }));
  };
  // Convolutions feeding a ReLU: their inputs wait for their outputs (see activeEnergy).
  const relus = reluFed(layers.values());
  const waiting = new Map<string, Dense>();
  const active = new Map<string, Float64Array>();
  const observe = (
    blob: string,
    value: { data: ArrayLike<unknown> },
    { name }: { name: string },
  ) => {
    const x = waiting.get(name);
    const layer = layers.get(name);
    if (!x || !layer || relus.get(name) !== blob || layer.layer.case !== "convolution") return;
    waiting.delete(name);
    const rows = num(layer.layer.value.outputChannels);
    const columns = accumulators.get(name)!.columns / (reference ? 2 : 1);
    const energy = active.get(name) ?? new Float64Array(rows * columns);
    active.set(name, energy);
    const y = value as Dense;
    addActiveEnergy(energy, layer, x, y);
  };
  const inspect = ({ name }: { name: string }, [x]: readonly Dense[]) => {
    if (!wanted(name)) return;
    if (relus.has(name) && x) waiting.set(name, x);
    const layer = layers.get(name);
    const sums = layer?.layer.case && LAYER_SUMS[layer.layer.case];
    if (!layer || !sums || !x) return;
    sums(layer, x, (inputAxes, groups, columns) => {
      let accumulator = accumulators.get(name);
      if (!accumulator) {
        accumulator = new Accumulator(inputAxes, groups, (reference ? 2 : 1) * columns, gram);
        accumulators.set(name, accumulator);
      }
      return reference ? pairedSums(accumulator, recorded.get(name) ?? [], columns) : accumulator;
    });
  };
  samples.forEach((sample, index) => {
    reference?.predict(sample, { inspect: record });
    interpreter.predict(sample, { inspect, observe });
    options.onProgress?.({
      done: index + 1,
      total: samples.length,
      name: index + 1 < samples.length ? `sample ${index + 2}` : "",
    });
  });
  const statistics = new Map<string, InputStatistics>();
  for (const [name, sums] of accumulators) {
    const size = sums.columns * sums.columns;
    for (let g = 0; sums.gram && g < sums.groups; g++)
      mirrorUpper(sums.gram.subarray(g * size, (g + 1) * size), sums.columns);
    const summed = combine([sums]);
    const combined = summed && reference ? splitPaired(summed) : summed;
    const energy = active.get(name);
    if (combined) statistics.set(name, { ...combined, ...(energy && { activeEnergy: energy }) });
  }
  return new LayerStatisticsTable(statistics, samples.length);
}
