/**
 * What is inside a model: format, versions, inputs and outputs, ops per function, and every
 * weight with its consumers and storage. Reads only protobuf metadata, never weight data.
 */
import { validateProgram } from "../program/validate.js";
import type { FeatureDescription, Model } from "../format/gen/Model_pb.js";
import type { MLModel } from "../format/model.js";
import { modelTree } from "../format/model-tree.js";
import { ELEMENT_TYPES, byteLength, elementCount } from "../kernels/dtype.js";
import { BlockGraph } from "../program/graph.js";
import { constValue, opName } from "../program/ops.js";
import { targetOfSpecificationVersion } from "../program/targets.js";
import { tensorTypeInfo } from "../program/types.js";
import { functionBlocks, walkOperations } from "../program/walk.js";
import {
  constexprChain,
  describeStep,
  isConstexpr,
  storedBytes,
  type StorageStep,
} from "./storage-forms.js";
import { formatFeatureType } from "./features.js";
import { neuralNetworkWeights, type NeuralWeightInfo } from "../neural/weights.js";

export interface FeatureSummary {
  name: string;
  type: string;
}

export interface FunctionSummary {
  /** Nested model path ("" for the root model). */
  model: string;
  name: string;
  opset: string;
  opCounts: Record<string, number>;
  /** The function's features, from the model description (multifunction models list each). */
  inputs: FeatureSummary[];
  outputs: FeatureSummary[];
  /** State tensors (read_state / write_state), such as a KV cache. */
  states: FeatureSummary[];
}

export interface WeightSummary {
  model: string;
  function: string;
  name: string;
  consumers: string[];
  dtype: string;
  shape: number[];
  /** Empty for dense weights; the constexpr chain otherwise, outermost first. */
  storage: StorageStep[];
  denseBytes: number;
  storedBytes: number;
}

export interface SubModelSummary {
  path: string;
  type: string;
  specificationVersion: number;
}

export interface ModelSummary {
  format: string;
  specificationVersion: number;
  deploymentTarget: string;
  type: string;
  inputs: FeatureSummary[];
  outputs: FeatureSummary[];
  states: FeatureSummary[];
  /** The function Core ML runs unless told otherwise ("" for models without functions). */
  defaultFunction: string;
  models: SubModelSummary[];
  functions: FunctionSummary[];
  weights: WeightSummary[];
  totals: {
    weights: number;
    compressed: number;
    denseBytes: number;
    storedBytes: number;
    weightFileBytes: number;
  };
}

const features = (list: FeatureDescription[]): FeatureSummary[] =>
  list.map((f) => ({ name: f.name, type: formatFeatureType(f.type) }));

/**
 * A function's inputs, outputs and states: its own description in a multifunction model, the
 * model's description for the default (or only) function.
 */
function functionFeatures(
  model: Model,
  functionName: string,
): Pick<FunctionSummary, "inputs" | "outputs" | "states"> {
  const description = model.description;
  const own = description?.functions.find((f) => f.name === functionName);
  const isDefault = (description?.defaultFunctionName || "main") === functionName;
  const source = own ?? (isDefault ? description : undefined);
  return {
    inputs: features(source?.input ?? []),
    outputs: features(source?.output ?? []),
    states: features(source?.state ?? []),
  };
}

/** Float consts of at least this many elements count as weights (smaller ones are parameters). */
const MIN_WEIGHT_ELEMENTS = 2;

function isWeightConst(type: ReturnType<typeof tensorTypeInfo>): boolean {
  if (!type || ELEMENT_TYPES[type.dtype].kind !== "float") return false;
  if (type.shape.some((d) => d === null)) return false;
  return elementCount(type.shape as number[]) >= MIN_WEIGHT_ELEMENTS;
}

function programWeights(
  model: Model,
  path: string,
): { functions: FunctionSummary[]; weights: WeightSummary[] } {
  const functions: FunctionSummary[] = [];
  const weights = new Map<string, WeightSummary>();
  if (model.Type.case !== "mlProgram") return { functions, weights: [] };
  const seenFunctions = new Set<string>();
  for (const { functionName, opset, block } of functionBlocks(model.Type.value)) {
    const opCounts: Record<string, number> = {};
    for (const { op } of walkOperations(block)) opCounts[op.type] = (opCounts[op.type] ?? 0) + 1;
    functions.push({
      model: path,
      name: functionName,
      opset,
      opCounts,
      ...functionFeatures(model, functionName),
    });
    // Specializations of one function share its weights: list them once.
    if (seenFunctions.has(functionName)) continue;
    seenFunctions.add(functionName);
    const graph = new BlockGraph(block);
    for (const { op } of walkOperations(block)) {
      if (op.type === "const" || isConstexpr(op)) continue;
      for (const argument of Object.values(op.inputs)) {
        for (const { binding } of argument.arguments) {
          if (binding.case !== "name") continue;
          const producer = graph.producer(binding.value);
          if (!producer) continue;
          const source = producer.op;
          const compressed = isConstexpr(source);
          if (!compressed && source.type !== "const") continue;
          const type = tensorTypeInfo(
            compressed ? source.outputs[producer.output].type : constValue(source)?.type,
          );
          if (!type || (!compressed && !isWeightConst(type))) continue;
          const key = `${functionName}\u0000${binding.value}`;
          let weight = weights.get(key);
          if (!weight) {
            const shape = type.shape.map((d) => d ?? 0);
            const chain = compressed ? constexprChain(source, graph) : [];
            const dense = byteLength(type.dtype, elementCount(shape));
            weight = {
              model: path,
              function: functionName,
              name: binding.value,
              consumers: [],
              dtype: type.dtype,
              shape,
              storage: chain.map((step) => describeStep(step, graph)),
              denseBytes: dense,
              storedBytes: compressed ? storedBytes(chain, graph) : dense,
            };
            weights.set(key, weight);
          }
          const consumer = `${op.type} ${opName(op)}`;
          if (!weight.consumers.includes(consumer)) weight.consumers.push(consumer);
        }
      }
    }
  }
  return { functions, weights: [...weights.values()] };
}

const NEURAL_DTYPES: Record<string, string> = {
  float32: "fp32",
  float16: "fp16",
  int8: "int8",
  raw: "raw",
};

/** A neural-network layer's weight field as a weight row: dense floats or quantized storage. */
function neuralWeight(info: NeuralWeightInfo): WeightSummary {
  const storage = info.storage;
  const steps: StorageStep[] =
    storage.kind === "quantized"
      ? [
          {
            op: "QuantizationParams",
            bits: storage.nbits,
            description: `${storage.quantization} ${storage.nbits}-bit`,
            ...(storage.quantization === "lut" ? { lutSize: 2 ** storage.nbits } : {}),
          },
        ]
      : storage.kind === "int8"
        ? [{ op: "int8RawValue", bits: 8, description: "int8" }]
        : [];
  return {
    model: info.modelPath.join("/"),
    function: "",
    name: `${[...info.enclosingLayers, info.layer].join("/")}.${info.field}`,
    consumers: [`${info.layerType} ${info.layer}`],
    dtype: NEURAL_DTYPES[storage.kind] ?? "fp32",
    shape: info.shape,
    storage: steps,
    denseBytes: info.elementCount * 4,
    storedBytes: info.byteSize,
  };
}

/** Core ML releases before ML programs, by specification version. */
const LEGACY_TARGETS = ["", "iOS11", "iOS11.2", "iOS12", "iOS13", "iOS14"];

function deploymentTarget(specificationVersion: number): string {
  return (
    targetOfSpecificationVersion(specificationVersion) ??
    LEGACY_TARGETS[specificationVersion] ??
    `specification ${specificationVersion}`
  );
}

/** Summarises a model; `weightFileBytes` needs the files' sizes, so this reads their headers. */
export async function inspectModel(model: MLModel): Promise<ModelSummary> {
  await validateProgram(model);
  const spec = model.spec;
  const models: SubModelSummary[] = [];
  const functions: FunctionSummary[] = [];
  const weights: WeightSummary[] = [];
  for (const nested of modelTree(spec)) {
    const path = nested.path.join("/");
    models.push({
      path,
      type: nested.model.Type.case ?? "none",
      specificationVersion: nested.model.specificationVersion,
    });
    const found = programWeights(nested.model, path);
    functions.push(...found.functions);
    weights.push(...found.weights);
  }
  weights.push(
    ...neuralNetworkWeights(spec)
      .filter((w) => w.storage.kind !== "empty")
      .map(neuralWeight),
  );
  let weightFileBytes = 0;
  for (const fileName of model.weightFiles.keys())
    weightFileBytes += (await model.blobFile(fileName)).size;
  return {
    format: model.format,
    specificationVersion: spec.specificationVersion,
    deploymentTarget: deploymentTarget(spec.specificationVersion),
    type: spec.Type.case ?? "none",
    inputs: features(spec.description?.input ?? []),
    outputs: features(spec.description?.output ?? []),
    states: features(spec.description?.state ?? []),
    defaultFunction:
      spec.Type.case === "mlProgram" ? spec.description?.defaultFunctionName || "main" : "",
    models,
    functions,
    weights,
    totals: {
      weights: weights.length,
      compressed: weights.filter((w) => w.storage.length > 0).length,
      denseBytes: weights.reduce((s, w) => s + w.denseBytes, 0),
      storedBytes: weights.reduce((s, w) => s + w.storedBytes, 0),
      weightFileBytes,
    },
  };
}
