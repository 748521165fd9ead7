/**
 * Sensitive k-means on a neural network, each layer's candidate tables judged by what they do
 * on the calibration samples rather than by the second-moment estimate alone (see
 * `LayerCalibration.measure`). Estimates from XᵀX miss what a ReLU after the layer does (an
 * error where it clips the output to 0 is lost, one that opens it is not) and how the rest of
 * the network carries each error; so the network runs on the samples and each candidate's error
 * is measured at a horizon:
 * - "layer": the layer's own output after its ReLU (if one alone reads it), from the layer's
 *   float input: Σ (relu(y + ΔW∗x) − relu(y))². One extra convolution per candidate.
 * - "output": the model's outputs against the float model's, Σ (ŷ − y)², layer by layer in
 *   network order with the earlier layers' kept tables in place (so each layer also answers the
 *   error let through before it), each run resumed at the layer from the blobs of the network
 *   as kept so far (as sensitivity trials resume). One resumed run per candidate and sample.
 * Plain k-means is among the candidates, so per layer, on these samples and at this horizon,
 * the kept table is never worse than plain k-means'.
 */
import { clone } from "@bufbuild/protobuf";
import { ModelSchema } from "../format/gen/Model_pb.js";
import {
  NeuralNetworkLayerSchema,
  type NeuralNetworkLayer,
} from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { conv2d } from "../kernels/ops/conv.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import { linear } from "../kernels/ops/matmul.js";
import { dequantizeWeightParams } from "../neural/dequantize.js";
import { neuralNetworkOf, walkLayers } from "../neural/walk.js";
import { quantizableFields } from "../neural/weight-fields.js";
import { fuseBeforeQuantization } from "../passes/neural-fuse.js";
import type { LayerCalibration } from "../passes/neural-quantize.js";
import type { ProgressCallback } from "../progress.js";
import { channelView, num } from "../runtime/layers/params.js";
import { NeuralNetworkInterpreter, recordBlobs } from "../runtime/neural-network.js";
import { convWindow, reluFed } from "./neural-statistics.js";

export const MEASURE_HORIZONS = ["layer", "output"] as const;
export type MeasureHorizon = (typeof MEASURE_HORIZONS)[number];

export interface MeasuredCalibrationOptions {
  /** Where each candidate's error is measured (default "layer"; see above). */
  horizon?: MeasureHorizon;
  /**
   * At the "output" horizon, the network whose outputs the candidates are judged against
   * (default: `model` itself). Sequential calibration measures on the network quantized so
   * far, against the float one.
   */
  reference?: MLModel;
  /** Called as candidates are measured. */
  onProgress?: ProgressCallback;
}

type Candidates = ReadonlyMap<string, readonly Float32Array[]>;

/**
 * `statistics` (collectNeuralStatistics on `samples`) that also measures sensitive k-means
 * candidates on `samples`, for `quantizeWeights`' `calibration`.
 */
export function measuredCalibration(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  statistics: Pick<LayerCalibration, "statistics">,
  options: MeasuredCalibrationOptions = {},
): LayerCalibration {
  const measure = options.horizon === "output" ? outputErrors : layerErrors;
  return {
    statistics: (layer) => statistics.statistics(layer),
    measure: async (candidates) => measure(fusedNetwork(model), samples, candidates, options),
  };
}

/** The network as `quantizeWeights` sees it (fused), and its layers by name. */
interface Fused {
  interpreter: NeuralNetworkInterpreter;
  layers: Map<string, NeuralNetworkLayer>;
}

function fusedNetwork(model: MLModel): Fused {
  const spec = clone(ModelSchema, model.spec);
  const network = neuralNetworkOf(spec)!;
  fuseBeforeQuantization(network.layers);
  const layers = new Map<string, NeuralNetworkLayer>();
  for (const { layer } of walkLayers(network)) layers.set(layer.name, layer);
  return { interpreter: NeuralNetworkInterpreter.fromSpec(spec), layers };
}

/** A layer's weights field and its float values. */
function weightsOf(layer: NeuralNetworkLayer) {
  const field = quantizableFields(layer).find((f) => f.field === "weights")!;
  return { ...field, values: dequantizeWeightParams(field.params, field.layout) };
}

/** ΔW∗x: what replacing the layer's weights by weights + `delta` adds to its output. */
function outputChange(layer: NeuralNetworkLayer, x: Dense, delta: Dense): Float32Array {
  if (layer.layer.case === "convolution") {
    const p = layer.layer.value;
    const [n, c, h, w] = channelView(x);
    const input = { shape: [n, c, h, w], data: x.data };
    return conv2d(input, delta, undefined, convWindow(p, [h, w]), Math.max(1, num(p.nGroups))).data;
  }
  const columns = delta.shape[1];
  return linear({ shape: [x.data.length / columns, columns], data: x.data }, delta).data;
}

/** Layers whose output change outputChange computes: convolutions (not deconvolutions), inner products. */
function measurableAtLayer({ layer }: NeuralNetworkLayer): boolean {
  if (layer.case === "convolution") return !layer.value.isDeconvolution;
  return layer.case === "innerProduct";
}

/** The "layer" horizon: each candidate's error on its layer's output (after a sole ReLU). */
async function layerErrors(
  { interpreter, layers }: Fused,
  samples: readonly Record<string, Tensor>[],
  candidates: Candidates,
  { onProgress }: MeasuredCalibrationOptions,
): Promise<Map<string, number[]>> {
  const relus = reluFed(layers.values());
  const deltas = new Map<string, Dense[]>();
  for (const [name, list] of candidates) {
    const layer = layers.get(name);
    if (!layer || !measurableAtLayer(layer)) continue;
    const { values, layout } = weightsOf(layer);
    deltas.set(
      name,
      list.map((weights) => ({ shape: layout.shape, data: weights.map((v, i) => v - values[i]) })),
    );
  }
  const errors = new Map([...deltas].map(([name, list]) => [name, list.map(() => 0)]));
  const inputs = new Map<string, Dense>();
  samples.forEach((sample, index) => {
    interpreter.predict(sample, {
      inspect: ({ name }, [x]) => {
        if (deltas.has(name) && x) inputs.set(name, x);
      },
      observe: (blob, value, { name }) => {
        const x = inputs.get(name);
        const layer = layers.get(name);
        if (!x || !layer || layer.output[0] !== blob) return;
        inputs.delete(name);
        const y = (value as Dense).data;
        const relu = relus.has(name);
        const sums = errors.get(name)!;
        deltas.get(name)!.forEach((delta, c) => {
          const d = outputChange(layer, x, delta);
          let sum = 0;
          for (let i = 0; i < y.length; i++) {
            const change = relu ? Math.max(y[i] + d[i], 0) - Math.max(y[i], 0) : d[i];
            sum += change * change;
          }
          sums[c] += sum;
        });
      },
    });
    onProgress?.({ done: index + 1, total: samples.length, name: `sample ${index + 1}` });
  });
  return errors;
}

/**
 * The "output" horizon: in network order, each layer's candidates in the network whose earlier
 * layers already hold their kept tables (the rest as they are), judged on the model's outputs
 * against the reference's (by default the model's own); the least harmful is kept for the
 * layers after it.
 */
async function outputErrors(
  { interpreter, layers }: Fused,
  samples: readonly Record<string, Tensor>[],
  candidates: Candidates,
  { onProgress, reference }: MeasuredCalibrationOptions,
): Promise<Map<string, number[]>> {
  // The reference as it is (no copy, no fusion): its outputs are what the candidates answer to.
  const target = reference && NeuralNetworkInterpreter.fromSpec(reference.spec);
  // Top-level layers only: a resumed run starts at a top-level step.
  const trials = [...candidates]
    .map(([name, list]) => ({
      name,
      list,
      step: interpreter.stepOf(name),
      layer: layers.get(name),
    }))
    .filter((t) => t.step !== undefined && t.layer)
    .sort((a, b) => a.step! - b.step!);
  // Per sample: the float outputs, and the blobs of the network as kept so far that a run
  // resumed at the next layer reads (not every blob: memory stays at one step's live values).
  const needed = trials.map((t) => interpreter.neededAt(t.step!));
  const runs = samples.map((sample) => {
    const blobs = new Map<string, Dense>();
    let rewritten = false;
    const own = interpreter.predict(sample, {
      observe: recordBlobs(blobs, { keep: needed[0], onRewrite: () => (rewritten = true) }),
    });
    return { sample, expected: target?.predict(sample) ?? own, blobs, rewritten };
  });
  const errors = new Map<string, number[]>();
  const kept: NeuralNetworkLayer[] = [];
  const total = trials.reduce((n, t) => n + t.list.length, 0) * samples.length;
  let done = 0;
  for (const [index, { name, list, step, layer }] of trials.entries()) {
    const networks = list.map((weights) =>
      interpreter.withLayers([...kept, withWeights(layer!, weights)]),
    );
    const sums = networks.map((network) =>
      runs.reduce((sum, run) => {
        const resume = { step: run.rewritten ? 0 : step!, values: run.blobs };
        onProgress?.({ done: done++, total, name });
        return sum + squaredDifference(run.expected, network.predict(run.sample, { resume }));
      }, 0),
    );
    errors.set(name, sums);
    const best = sums.reduce((b, e, i) => (e < sums[b] ? i : b), 0);
    kept.push(withWeights(layer!, list[best]));
    const next = needed[index + 1];
    if (!next) continue;
    for (const run of runs) {
      const resume = { step: run.rewritten ? 0 : step!, values: new Map(run.blobs) };
      networks[best].predict(run.sample, {
        resume,
        observe: recordBlobs(run.blobs, { keep: next }),
      });
      for (const blob of run.blobs.keys()) if (!next(blob)) run.blobs.delete(blob);
    }
  }
  onProgress?.({ done: total, total, name: "" });
  return errors;
}

/** A copy of `layer` whose weights are `values` (float32). */
function withWeights(layer: NeuralNetworkLayer, values: Float32Array): NeuralNetworkLayer {
  const copy = clone(NeuralNetworkLayerSchema, layer);
  const { params } = quantizableFields(copy).find((f) => f.field === "weights")!;
  params.floatValue = Array.from(values);
  params.float16Value = new Uint8Array(0);
  params.rawValue = new Uint8Array(0);
  params.quantization = undefined;
  return copy;
}

/** Σ (a − b)² over the float outputs both hold. */
function squaredDifference(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let sum = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (!(x.data instanceof Float32Array) || !(y?.data instanceof Float32Array)) continue;
    for (let i = 0; i < x.data.length; i++) sum += (x.data[i] - y.data[i]) ** 2;
  }
  return sum;
}
