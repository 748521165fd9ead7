/**
 * Runs neural-network (.mlmodel) models on the CPU: preprocessing of image inputs, then the
 * layers in order (control-flow layers run their nested networks over the same blobs), then
 * the described outputs, with a classifier's probabilities and label. Weights stored quantized
 * are dequantized once at load, so a model and its `quantize_weights` version can be compared.
 *
 * Blobs keep their rank. Networks of specification 3 and earlier (RANK5_ARRAY_MAPPING) see
 * arrays as [Seq, Batch, C, H, W] = [1, 1, C, H, W]; EXACT_ARRAY_MAPPING passes arrays through
 * with their declared shape. Layers defined on [C, H, W] read a blob's last three axes and
 * treat the axes before them as a batch.
 */
import { ConfigError, CoreMLOptimizeError, ModelRunError, UnsupportedError } from "../errors.js";
import type { FeatureDescription, Model } from "../format/gen/Model_pb.js";
import type { FeatureType } from "../format/gen/FeatureTypes_pb.js";
import {
  ArrayFeatureType_ArrayDataType,
  ImageFeatureType_ColorSpace,
} from "../format/gen/FeatureTypes_pb.js";
import {
  NeuralNetworkImageShapeMapping,
  NeuralNetworkMultiArrayShapeMapping,
  type NeuralNetwork,
  type NeuralNetworkLayer,
  type NeuralNetworkPreprocessing,
} from "../format/gen/NeuralNetwork_pb.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import type { Gemm } from "../kernels/ops/matmul.js";
import { fastGemm } from "./simd-gemm.js";
import { neuralNetworkOf } from "../neural/walk.js";
import type { ProgramIO } from "./interpreter.js";
import type {
  CompileContext,
  CompiledNetwork,
  LoopSignal,
  RunContext,
  Step,
} from "./layers/params.js";
import { layerCompiler } from "./layers/table.js";
import { fromTensor, isNumeric, type NumericValue } from "./value.js";

/** Sees one blob a layer computed: its name, its value and the layer (its name and inputs). */
export type LayerObserver = (
  name: string,
  value: NumericValue,
  layer: { readonly name: string; readonly inputs: readonly string[] },
) => void;

/**
 * An observer copying into `blobs` each blob `keep` accepts (all by default), for a later
 * run's `resume`; `onRewrite` is told when a name comes twice (a loop), which rules resuming out.
 */
export function recordBlobs(
  blobs: Map<string, Dense>,
  options: { keep?: (blob: string) => boolean; onRewrite?: () => void } = {},
): LayerObserver {
  const seen = new Set<string>();
  return (name, value) => {
    if (seen.has(name)) options.onRewrite?.();
    seen.add(name);
    if (options.keep?.(name) ?? true) {
      blobs.set(name, { shape: value.shape, data: (value.data as Float32Array).slice() });
    }
  };
}

/** Sees the input blobs of one layer just before it runs (not to be modified). */
export type LayerInspector = (
  layer: { readonly name: string; readonly inputs: readonly string[] },
  inputs: readonly Dense[],
) => void;

interface InputPlan {
  io: ProgramIO;
  /** Maps the given values (of the given shape) to the input blob, preprocessing included. */
  toBlob: (data: Float32Array, shape: readonly number[]) => Dense;
}

type OutputPlan = { io: ProgramIO; read: (blobs: Map<string, Dense>) => Tensor };

/** Compiles a network's layers and those nested in them, collecting the types it cannot run. */
class NetworkCompiler implements CompileContext {
  readonly unsupported = new Map<string, string>();
  /** Blob names read by networks nested in the layer being compiled. */
  private nestedReads: Set<string>[] = [];

  nested(network: NeuralNetwork): CompiledNetwork {
    const compiled = this.compile(network.layers);
    for (const name of compiled.reads) this.nestedReads.at(-1)?.add(name);
    return compiled;
  }

  compile(layers: readonly NeuralNetworkLayer[]): CompiledNetwork {
    const steps: Step[] = [];
    const reads = new Set<string>();
    for (const layer of layers) {
      const type = layer.layer.case;
      const compiler = type && layerCompiler(type);
      if (!compiler) {
        const name = type ?? "empty";
        if (!this.unsupported.has(name)) this.unsupported.set(name, layer.name);
        continue;
      }
      const stepReads = new Set(layer.input);
      this.nestedReads.push(stepReads);
      const run = compiler(layer, this);
      this.nestedReads.pop();
      for (const name of stepReads) reads.add(name);
      steps.push({
        name: layer.name,
        inputs: layer.input,
        outputs: layer.output,
        reads: stepReads,
        run,
        release: [],
      });
    }
    return { steps, reads };
  }
}

export class NeuralNetworkInterpreter {
  private constructor(
    private readonly inputPlans: InputPlan[],
    private readonly outputPlans: OutputPlan[],
    private readonly network: CompiledNetwork,
    private readonly multiply: Gemm,
  ) {}

  get inputs(): readonly ProgramIO[] {
    return this.inputPlans.map((p) => p.io);
  }

  get outputs(): readonly ProgramIO[] {
    return this.outputPlans.map((p) => p.io);
  }

  /** Prepares a neural network spec; fails (before running anything) on layers it cannot run. */
  static fromSpec(spec: Model, multiply: Gemm = fastGemm()): NeuralNetworkInterpreter {
    const network = neuralNetworkOf(spec);
    if (!network) throw new UnsupportedError("the model is not a neural network");
    const compiler = new NetworkCompiler();
    const compiled = compiler.compile(network.layers);
    if (compiler.unsupported.size > 0) {
      const list = [...compiler.unsupported]
        .map(([type, name]) => `${type} (first: "${name}")`)
        .join(", ");
      throw new UnsupportedError(`the interpreter does not support layer ${list}`);
    }
    const exact =
      network.arrayInputShapeMapping === NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING;
    const rank4Images =
      network.imageInputShapeMapping === NeuralNetworkImageShapeMapping.RANK4_IMAGE_MAPPING;
    const description = spec.description;
    const inputs = (description?.input ?? []).map((feature) =>
      inputPlan(
        feature,
        { exact, rank4Images },
        preprocessingOf(network.preprocessing, feature.name, description!.input.length),
      ),
    );
    markIndexInputs(
      inputs.map((p) => p.io),
      network.layers,
    );
    const classifier = spec.Type.case === "neuralNetworkClassifier" ? spec.Type.value : undefined;
    const labels = classifier
      ? classifier.ClassLabels.case === "stringClassLabels"
        ? classifier.ClassLabels.value.vector
        : (classifier.ClassLabels.value?.vector.map(String) ?? [])
      : [];
    const last = compiled.steps[compiled.steps.length - 1];
    const probabilities = classifier?.labelProbabilityLayerName || last?.outputs[0] || "";
    const outputs = (description?.output ?? []).map((feature): OutputPlan => {
      if (classifier && feature.name === description?.predictedFeatureName) {
        return labelOutput(feature, probabilities, labels);
      }
      const source = feature.type?.Type.case === "dictionaryType" ? probabilities : feature.name;
      return blobOutput(feature, source, !exact);
    });
    planReleases(compiled, new Set([probabilities, ...outputs.map((o) => o.io.name)]));
    return new NeuralNetworkInterpreter(inputs, outputs, compiled, multiply);
  }

  /** The index of the top-level step running layer `name` (undefined for nested layers). */
  stepOf(name: string): number | undefined {
    const index = this.network.steps.findIndex((s) => s.name === name);
    return index < 0 ? undefined : index;
  }

  /**
   * Which blobs of an earlier run a run resumed at top-level step `step` may read: those no
   * step before it released and no step from it on computes again.
   */
  neededAt(step: number): (blob: string) => boolean {
    const gone = new Set<string>();
    this.network.steps.forEach((s, index) => {
      for (const name of index < step ? s.release : s.outputs) gone.add(name);
    });
    return (blob) => !gone.has(blob);
  }

  /**
   * The same network with some top-level layers compiled from other parameters (one layer
   * compressed, say): the other layers' steps are shared, not compiled again.
   */
  withLayers(layers: readonly NeuralNetworkLayer[]): NeuralNetworkInterpreter {
    const steps = [...this.network.steps];
    const compiler = new NetworkCompiler();
    for (const layer of layers) {
      const index = this.stepOf(layer.name);
      if (index === undefined) {
        throw new ConfigError(`layer "${layer.name}" is not a top-level layer of the network`);
      }
      const [step] = compiler.compile([layer]).steps;
      if (!step) throw new UnsupportedError(`layer "${layer.name}" cannot be compiled`);
      steps[index] = { ...step, release: steps[index].release };
    }
    const network = { steps, reads: this.network.reads };
    return new NeuralNetworkInterpreter(this.inputPlans, this.outputPlans, network, this.multiply);
  }

  /**
   * Runs the network on one set of inputs. An `observe` callback sees every blob a layer
   * computes (not to be modified), nested networks' included; an `inspect` callback sees each
   * layer's inputs just before it runs. With `resume`, the run starts at top-level step `step`,
   * from the blobs an earlier run on the same inputs computed (what `observe` saw, copied), so
   * only the layers from there on run again. Networks have no states: a runner's `state`
   * option is ignored.
   */
  predict(
    inputs: Record<string, Tensor>,
    options: {
      observe?: LayerObserver;
      inspect?: LayerInspector;
      resume?: { step: number; values: ReadonlyMap<string, Dense> };
      state?: unknown;
    } = {},
  ): Record<string, Tensor> {
    const blobs = new Map<string, Dense>();
    for (const plan of this.inputPlans) {
      const given = inputs[plan.io.name];
      if (!given) throw new ConfigError(`missing input "${plan.io.name}"`);
      const value = fromTensor(given);
      if (!isNumeric(value)) throw new ConfigError(`input "${plan.io.name}" must be numeric`);
      blobs.set(plan.io.name, plan.toBlob(Float32Array.from(value.data), given.shape));
    }
    const resume = options.resume;
    if (resume) for (const [name, value] of resume.values) blobs.set(name, value);
    const network = resume
      ? { ...this.network, steps: this.network.steps.slice(resume.step) }
      : this.network;
    this.execute(network, blobs, options.observe, options.inspect);
    const result: Record<string, Tensor> = {};
    for (const plan of this.outputPlans) result[plan.io.name] = plan.read(blobs);
    return result;
  }

  /** Runs a network's steps over `blobs`; the loop signal that stopped it early, if any. */
  private execute(
    network: CompiledNetwork,
    blobs: Map<string, Dense>,
    observe?: LayerObserver,
    inspect?: LayerInspector,
  ): LoopSignal | undefined {
    const context: RunContext = {
      multiply: this.multiply,
      run: (nested) => this.execute(nested, blobs, observe, inspect),
      blob: (name) => {
        const blob = blobs.get(name);
        if (!blob) throw new ConfigError(`no layer has computed "${name}"`);
        return blob;
      },
    };
    for (const s of network.steps) {
      const args = s.inputs.map((name) => {
        const blob = blobs.get(name);
        if (!blob) throw new ConfigError(`layer "${s.name}" reads "${name}" before it is computed`);
        return blob;
      });
      inspect?.(s, args);
      let produced: ReturnType<Step["run"]>;
      try {
        produced = s.run(args, context);
      } catch (error) {
        if (error instanceof CoreMLOptimizeError) throw error;
        throw new ModelRunError(`layer "${s.name}"`, error);
      }
      if (typeof produced === "string") return produced;
      const results = Array.isArray(produced) ? produced : [produced];
      // Recurrent layers compute their final states too; a layer may leave them unnamed.
      if (results.length < s.outputs.length) {
        throw new ConfigError(
          `layer "${s.name}" computes ${results.length} outputs, the model names ${s.outputs.length}`,
        );
      }
      s.outputs.forEach((name, i) => {
        // A result whose data its shape does not describe would reach the outputs as such.
        if (elementCount([...results[i].shape]) !== results[i].data.length) {
          throw new ModelRunError(
            `layer "${s.name}"`,
            new Error(`made [${results[i].shape.join(",")}] from ${results[i].data.length} values`),
          );
        }
        blobs.set(name, results[i]);
        const value = { dtype: "fp32" as const, shape: results[i].shape, data: results[i].data };
        observe?.(name, value, s);
      });
      for (const name of s.release) blobs.delete(name);
    }
    return undefined;
  }
}

/**
 * Frees each blob after the top-level step that reads it last (a control-flow step reads what
 * its nested networks read); nested steps free nothing, as loops read blobs again.
 */
function planReleases(network: CompiledNetwork, keep: Set<string>): void {
  const lastUse = new Map<string, number>();
  network.steps.forEach((s, index) => {
    for (const name of s.reads) lastUse.set(name, index);
  });
  for (const [name, index] of lastUse) {
    if (!keep.has(name)) network.steps[index].release.push(name);
  }
}

/** The preprocessing of an input ("" names the only input). */
function preprocessingOf(
  all: NeuralNetworkPreprocessing[],
  name: string,
  inputCount: number,
): NeuralNetworkPreprocessing | undefined {
  return all.find((p) => p.featureName === name || (p.featureName === "" && inputCount === 1));
}

interface ShapeMapping {
  /** Arrays keep their declared shape (else [C] and [C, H, W] become rank 5). */
  exact: boolean;
  /** Images are [1, C, H, W] (else [1, 1, C, H, W]). */
  rank4Images: boolean;
}

/** An input's blob from its declared type and the network's shape mapping; images preprocessed. */
/** Rows of the table an embedding layer looks its input up in. */
const TABLE_ROWS: Partial<Record<string, (layer: NeuralNetworkLayer) => bigint | undefined>> = {
  embedding: (layer) => (layer.layer.case === "embedding" ? layer.layer.value.inputDim : undefined),
  embeddingND: (layer) =>
    layer.layer.case === "embeddingND" ? layer.layer.value.vocabSize : undefined,
};

/** Inputs read by embedding layers hold indices: random samples must stay inside the table. */
function markIndexInputs(inputs: ProgramIO[], layers: readonly NeuralNetworkLayer[]): void {
  for (const layer of layers) {
    const rows = TABLE_ROWS[layer.layer.case ?? ""]?.(layer);
    if (rows === undefined) continue;
    for (const io of inputs) {
      if (!layer.input.includes(io.name)) continue;
      io.indexRange = Math.min(io.indexRange ?? Infinity, Number(rows));
    }
  }
}

function inputPlan(
  feature: FeatureDescription,
  mapping: ShapeMapping,
  pre?: NeuralNetworkPreprocessing,
): InputPlan {
  const type = feature.type?.Type;
  const label = `input "${feature.name}"`;
  const checked = (data: Float32Array, given: readonly number[], expected: readonly number[]) => {
    if (data.length !== elementCount([...expected])) {
      throw new ConfigError(
        `${label} has shape [${given.join(",")}], the model expects [${expected.join(",")}]`,
      );
    }
  };
  if (type?.case === "imageType") {
    const image = type.value;
    const C = ImageFeatureType_ColorSpace;
    const gray = image.colorSpace === C.GRAYSCALE || image.colorSpace === C.GRAYSCALE_FLOAT16;
    const shape = [gray ? 1 : 3, Number(image.height), Number(image.width)];
    const blob = [...(mapping.rank4Images ? [1] : [1, 1]), ...shape];
    const io: ProgramIO = { name: feature.name, dtype: "fp32", shape, image: true };
    return {
      io,
      toBlob: (data, given) => {
        checked(data, given, shape);
        return preprocess({ shape: blob, data }, image.colorSpace, pre);
      },
    };
  }
  if (type?.case === "multiArrayType") {
    const declared = type.value.shape.map(Number);
    // Integer arrays (indices, often) get integer random samples; the blob is float either way.
    const D = ArrayFeatureType_ArrayDataType;
    const integer = type.value.dataType === D.INT32 || type.value.dataType === D.INT8;
    const io: ProgramIO = {
      name: feature.name,
      dtype: integer ? "int32" : "fp32",
      shape: declared,
    };
    if (mapping.exact) {
      // The given shape, when of the declared rank (flexible shapes declare a default).
      return {
        io,
        toBlob: (data, given) => {
          const shape = given.length === declared.length ? given : declared;
          checked(data, given, shape);
          return { shape, data };
        },
      };
    }
    const blob = [1, 1, ...chwShape(declared, label)];
    return {
      io,
      toBlob: (data, given) => {
        checked(data, given, declared);
        return { shape: blob, data };
      },
    };
  }
  throw new UnsupportedError(`${label}: ${type?.case ?? "untyped"} inputs are not supported`);
}

/**
 * The [C, H, W] of a declared array shape in the rank-5 mapping: rank 1 is [C, 1, 1], rank 3
 * [C, H, W]; leading axes of size 1 (sequence and batch of rank 5, batch of rank 4 and 2) are
 * dropped.
 */
function chwShape(shape: number[], label: string): number[] {
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
  const channels = x.shape[x.shape.length - 3];
  const plane = x.data.length / channels;
  if (p.case === "meanImage") {
    const mean = p.value.meanImage;
    for (let i = 0; i < out.length; i++) out[i] = x.data[i] - (mean[i] ?? 0);
    return { shape: x.shape, data: out };
  }
  const s = p.value;
  const C = ImageFeatureType_ColorSpace;
  const biases =
    channels === 1
      ? [s.grayBias]
      : colorSpace === C.BGR
        ? [s.blueBias, s.greenBias, s.redBias]
        : [s.redBias, s.greenBias, s.blueBias];
  for (let i = 0; i < out.length; i++) {
    out[i] = x.data[i] * s.channelScale + biases[Math.floor(i / plane)];
  }
  return { shape: x.shape, data: out };
}

/**
 * A blob as an output: the declared shape when it fits, else the blob's own; in rank-5
 * networks without its leading sequence and batch axes of size 1, and [C, 1, 1] as [C].
 */
function blobOutput(feature: FeatureDescription, source: string, rank5: boolean): OutputPlan {
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
      let shape = [...blob.shape];
      if (declared.length && elementCount(declared) === blob.data.length) shape = declared;
      else if (rank5) {
        while (shape.length > 3 && shape[0] === 1) shape = shape.slice(1);
        if (shape.length === 3 && shape[1] === 1 && shape[2] === 1) shape = [shape[0]];
      }
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
