/**
 * Runs neural-network (.mlmodel) models on the CPU: preprocessing of image inputs, then the
 * layers in order on [C, H, W] blobs (sequence and batch 1), then the described outputs, with
 * a classifier's probabilities and label. Weights stored quantized are dequantized once at
 * load, so a model and its `quantize_weights` version can be compared.
 */
import { ConfigError, CoreMLOptimizeError, ModelRunError, UnsupportedError } from "../errors.js";
import type { FeatureDescription, Model } from "../format/gen/Model_pb.js";
import type { FeatureType } from "../format/gen/FeatureTypes_pb.js";
import { ImageFeatureType_ColorSpace } from "../format/gen/FeatureTypes_pb.js";
import type {
  NeuralNetworkLayer,
  NeuralNetworkPreprocessing,
} from "../format/gen/NeuralNetwork_pb.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import { gemm, type Gemm } from "../kernels/ops/matmul.js";
import { neuralNetworkOf } from "../neural/walk.js";
import type { ProgramIO } from "./interpreter.js";
import type { LayerFunction } from "./neural-layer-params.js";
import { compileLayer } from "./neural-layers.js";
import { fromTensor, isNumeric } from "./value.js";

interface Step {
  name: string;
  inputs: string[];
  outputs: string[];
  run: LayerFunction;
  /** Blobs no later step (nor an output) reads once this one has run. */
  release: string[];
}

interface InputPlan {
  io: ProgramIO;
  /** Maps the given values to the input blob (preprocessing included). */
  toBlob: (data: Float32Array) => Dense;
}

type OutputPlan = { io: ProgramIO; read: (blobs: Map<string, Dense>) => Tensor };

export class NeuralNetworkInterpreter {
  private constructor(
    private readonly inputPlans: InputPlan[],
    private readonly outputPlans: OutputPlan[],
    private readonly steps: Step[],
    private readonly multiply: Gemm,
  ) {}

  get inputs(): readonly ProgramIO[] {
    return this.inputPlans.map((p) => p.io);
  }

  get outputs(): readonly ProgramIO[] {
    return this.outputPlans.map((p) => p.io);
  }

  /** Prepares a neural network spec; fails (before running anything) on layers it cannot run. */
  static fromSpec(spec: Model, multiply: Gemm = gemm): NeuralNetworkInterpreter {
    const network = neuralNetworkOf(spec);
    if (!network) throw new UnsupportedError("the model is not a neural network");
    const steps: Step[] = [];
    const unsupported = new Map<string, string>();
    for (const layer of network.layers) {
      const run = compileLayer(layer);
      const type = layer.layer.case ?? "empty";
      if (run) steps.push(step(layer, run));
      else if (!unsupported.has(type)) unsupported.set(type, layer.name);
    }
    if (unsupported.size > 0) {
      const list = [...unsupported].map(([type, name]) => `${type} (first: "${name}")`).join(", ");
      throw new UnsupportedError(`the interpreter does not support layer ${list}`);
    }
    const description = spec.description;
    const inputs = (description?.input ?? []).map((feature) =>
      inputPlan(
        feature,
        preprocessingOf(network.preprocessing, feature.name, description!.input.length),
      ),
    );
    const classifier = spec.Type.case === "neuralNetworkClassifier" ? spec.Type.value : undefined;
    const labels = classifier
      ? classifier.ClassLabels.case === "stringClassLabels"
        ? classifier.ClassLabels.value.vector
        : (classifier.ClassLabels.value?.vector.map(String) ?? [])
      : [];
    const probabilities =
      classifier?.labelProbabilityLayerName || steps[steps.length - 1]?.outputs[0] || "";
    const outputs = (description?.output ?? []).map((feature): OutputPlan => {
      if (classifier && feature.name === description?.predictedFeatureName) {
        return labelOutput(feature, probabilities, labels);
      }
      const source = feature.type?.Type.case === "dictionaryType" ? probabilities : feature.name;
      return blobOutput(feature, source);
    });
    planReleases(steps, new Set([probabilities, ...outputs.map((o) => o.io.name)]));
    return new NeuralNetworkInterpreter(inputs, outputs, steps, multiply);
  }

  predict(inputs: Record<string, Tensor>): Record<string, Tensor> {
    const blobs = new Map<string, Dense>();
    for (const plan of this.inputPlans) {
      const given = inputs[plan.io.name];
      if (!given) throw new ConfigError(`missing input "${plan.io.name}"`);
      const value = fromTensor(given);
      const expected = elementCount(plan.io.shape.map((d) => d ?? 1));
      if (!isNumeric(value) || value.data.length !== expected) {
        throw new ConfigError(
          `input "${plan.io.name}" has shape [${given.shape.join(",")}], the model expects [${plan.io.shape.join(",")}]`,
        );
      }
      blobs.set(plan.io.name, plan.toBlob(Float32Array.from(value.data)));
    }
    for (const s of this.steps) {
      const args = s.inputs.map((name) => {
        const blob = blobs.get(name);
        if (!blob) throw new ConfigError(`layer "${s.name}" reads "${name}" before it is computed`);
        return blob;
      });
      let produced: ReturnType<Step["run"]>;
      try {
        produced = s.run(args, this.multiply);
      } catch (error) {
        if (error instanceof CoreMLOptimizeError) throw error;
        throw new ModelRunError(`layer "${s.name}"`, error);
      }
      const results = Array.isArray(produced) ? produced : [produced];
      if (results.length !== s.outputs.length) {
        throw new ConfigError(
          `layer "${s.name}" computes ${results.length} outputs, the model names ${s.outputs.length}`,
        );
      }
      s.outputs.forEach((name, i) => blobs.set(name, results[i]));
      for (const name of s.release) blobs.delete(name);
    }
    const result: Record<string, Tensor> = {};
    for (const plan of this.outputPlans) result[plan.io.name] = plan.read(blobs);
    return result;
  }
}

function step(layer: NeuralNetworkLayer, run: LayerFunction): Step {
  // Only split has several outputs.
  if (layer.output.length === 0 || (layer.output.length > 1 && layer.layer.case !== "split")) {
    throw new UnsupportedError(`layer "${layer.name}" has ${layer.output.length} outputs`);
  }
  return {
    name: layer.name,
    inputs: layer.input,
    outputs: layer.output,
    run,
    release: [],
  };
}

function planReleases(steps: Step[], keep: Set<string>): void {
  const lastUse = new Map<string, number>();
  steps.forEach((s, index) => s.inputs.forEach((name) => lastUse.set(name, index)));
  for (const [name, index] of lastUse) if (!keep.has(name)) steps[index].release.push(name);
}

/** The preprocessing of an input ("" names the only input). */
function preprocessingOf(
  all: NeuralNetworkPreprocessing[],
  name: string,
  inputCount: number,
): NeuralNetworkPreprocessing | undefined {
  return all.find((p) => p.featureName === name || (p.featureName === "" && inputCount === 1));
}

/** An input's blob [C, H, W] from its declared type; images get their preprocessing. */
function inputPlan(feature: FeatureDescription, pre?: NeuralNetworkPreprocessing): InputPlan {
  const type = feature.type?.Type;
  const label = `input "${feature.name}"`;
  if (type?.case === "imageType") {
    const image = type.value;
    const C = ImageFeatureType_ColorSpace;
    const gray = image.colorSpace === C.GRAYSCALE || image.colorSpace === C.GRAYSCALE_FLOAT16;
    const shape = [gray ? 1 : 3, Number(image.height), Number(image.width)];
    const io: ProgramIO = { name: feature.name, dtype: "fp32", shape, image: true };
    return { io, toBlob: (data) => preprocess({ shape, data }, image.colorSpace, pre) };
  }
  if (type?.case === "multiArrayType") {
    const declared = type.value.shape.map(Number);
    const blob = blobShape(declared, label);
    const io: ProgramIO = { name: feature.name, dtype: "fp32", shape: declared };
    return { io, toBlob: (data) => ({ shape: blob, data }) };
  }
  throw new UnsupportedError(`${label}: ${type?.case ?? "untyped"} inputs are not supported`);
}

/**
 * The [C, H, W] blob of a declared array shape: rank 1 is [C], rank 3 [C, H, W]; leading axes of
 * size 1 (sequence and batch of rank 5, batch of rank 4 and 2) are dropped.
 */
function blobShape(shape: number[], label: string): number[] {
  let dims = shape;
  while ((dims.length > 3 || dims.length === 2) && dims[0] === 1) dims = dims.slice(1);
  if (dims.length === 1) return [dims[0], 1, 1];
  if (dims.length === 3) return dims;
  throw new UnsupportedError(`${label}: arrays of shape [${shape.join(",")}] are not supported`);
}

/** x · channelScale + each channel's bias (channels in the image's color order), or x − mean. */
function preprocess(x: Dense, colorSpace: number, pre?: NeuralNetworkPreprocessing): Dense {
  const p = pre?.preprocessor;
  if (!p?.case) return x;
  const out = new Float32Array(x.data.length);
  const plane = x.data.length / x.shape[0];
  if (p.case === "meanImage") {
    const mean = p.value.meanImage;
    for (let i = 0; i < out.length; i++) out[i] = x.data[i] - (mean[i] ?? 0);
    return { shape: x.shape, data: out };
  }
  const s = p.value;
  const C = ImageFeatureType_ColorSpace;
  const biases =
    x.shape[0] === 1
      ? [s.grayBias]
      : colorSpace === C.BGR
        ? [s.blueBias, s.greenBias, s.redBias]
        : [s.redBias, s.greenBias, s.blueBias];
  for (let i = 0; i < out.length; i++) {
    out[i] = x.data[i] * s.channelScale + biases[Math.floor(i / plane)];
  }
  return { shape: x.shape, data: out };
}

/** A blob as an output: the declared shape when it fits, else the blob's own. */
function blobOutput(feature: FeatureDescription, source: string): OutputPlan {
  const type: FeatureType["Type"] | undefined = feature.type?.Type;
  const declared = type?.case === "multiArrayType" ? type.value.shape.map(Number) : [];
  const io: ProgramIO = {
    name: feature.name,
    dtype: "fp32",
    shape: declared.length ? declared : [null],
  };
  return {
    io,
    read: (blobs) => {
      const blob = blobs.get(source);
      if (!blob) throw new ConfigError(`no layer computes output "${feature.name}"`);
      const shape =
        declared.length && elementCount(declared) === blob.data.length
          ? declared
          : blob.shape[1] === 1 && blob.shape[2] === 1
            ? [blob.shape[0]]
            : [...blob.shape];
      return { dtype: "fp32", shape, data: blob.data };
    },
  };
}

/** A classifier's predicted label: the label of its most probable class. */
function labelOutput(feature: FeatureDescription, source: string, labels: string[]): OutputPlan {
  const numeric = feature.type?.Type.case === "int64Type";
  const io: ProgramIO = { name: feature.name, dtype: numeric ? "int32" : "string", shape: [1] };
  return {
    io,
    read: (blobs) => {
      const scores = blobs.get(source);
      if (!scores) throw new ConfigError(`no layer computes the class probabilities "${source}"`);
      let best = 0;
      for (let i = 1; i < scores.data.length; i++) if (scores.data[i] > scores.data[best]) best = i;
      const label = labels[best] ?? String(best);
      return numeric
        ? { dtype: "int32", shape: [1], data: Int32Array.of(Number(label)) }
        : { dtype: "string", shape: [1], data: [label] };
    },
  };
}
