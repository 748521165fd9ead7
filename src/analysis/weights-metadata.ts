/**
 * Per-weight facts coremltools' `get_weights_metadata` reports: the values, their sparsity,
 * the number of distinct values, and the ops that consume the weight — to pick op-name
 * configs before compressing.
 */
import { validateProgram } from "../program/validate.js";
import type { MLModel } from "../format/model.js";
import { numericValues } from "../kernels/values.js";
import { ELEMENT_TYPES, elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import { UnsupportedError } from "../errors.js";
import { BlockGraph } from "../program/graph.js";
import { constValue, opName } from "../program/ops.js";
import { tensorTypeInfo } from "../program/types.js";
import { readTensorValue } from "../program/values.js";
import { functionBlocks, walkOperations } from "../program/walk.js";
import { evaluateConstexpr, isConstexprOp, parameterBindings } from "../program/constexpr.js";
import type { Model } from "../format/gen/Model_pb.js";
import { dequantizeWeightParams, weightStorage } from "../neural/dequantize.js";
import { layerWeightFields, neuralNetworksIn, walkLayers } from "../neural/walk.js";
import { fieldLayout, neuralWeightName } from "../neural/weights.js";

export interface ChildOp {
  name: string;
  type: string;
  /** Which input of the child op the weight feeds. */
  inputs: string[];
}

export interface ValueStats {
  min: number;
  max: number;
  mean: number;
  std: number;
}

export interface WeightMetadata {
  name: string;
  value: Tensor;
  stats: ValueStats;
  /** Fraction of elements with |w| ≤ 1e-12, as coremltools counts them. */
  sparsity: number;
  uniqueValues: number;
  childOps: ChildOp[];
}

export interface WeightsMetadataOptions {
  /** Only weights with more elements than this are reported (coremltools' default: 2048). */
  weightThreshold?: number;
}

/** Magnitude at or below which coremltools counts a weight as zero. */
const ZERO_TOLERANCE = 1e-12;

function statsOf(values: ArrayLike<number>): ValueStats & { zeros: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    if (Math.abs(v) <= ZERO_TOLERANCE) zeros++;
  }
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(squares / values.length), zeros };
}

function countUnique(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  let unique = sorted.length > 0 ? 1 : 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1]) unique++;
  return unique;
}

/**
 * Metadata of every weight with more elements than the threshold; compressed weights are
 * reported by their decompressed values, under their constexpr output names. Each constexpr
 * chain is evaluated as the walk reaches it, so a compressed model is never decompressed whole.
 */
export async function getWeightsMetadata(
  model: MLModel,
  options: WeightsMetadataOptions = {},
): Promise<Map<string, WeightMetadata>> {
  await validateProgram(model);
  const threshold = options.weightThreshold ?? 2048;
  const result = new Map<string, WeightMetadata>();
  if (model.spec.Type.case !== "mlProgram") return neuralWeightsMetadata(model.spec, threshold);
  const seen = new Set<string>();
  for (const { functionName, block } of functionBlocks(model.spec.Type.value)) {
    if (seen.has(functionName)) continue;
    seen.add(functionName);
    const graph = new BlockGraph(block);
    const feedsConstexpr = (name: string) =>
      graph.consumers(name).some((child) => isConstexprOp(child.type));
    // A weight as decompression leaves it: read by some other op (or by none at all).
    const isWeight = (name: string) => {
      const consumers = graph.consumers(name);
      return consumers.length === 0 || consumers.some((child) => !isConstexprOp(child.type));
    };
    const wanted = (name: string, dtype: ElementType, shape: readonly (number | null)[]) =>
      ELEMENT_TYPES[dtype].kind === "float" &&
      !shape.some((d) => d === null) &&
      elementCount(shape as number[]) > threshold &&
      isWeight(name);
    const report = (name: string, tensor: Tensor) =>
      result.set(name, weightMetadata(name, tensor, graph));
    // Values constexpr ops read (constants and results of earlier constexpr ops).
    const parameters = new Map<string, Tensor>();
    for (const { op } of walkOperations(block)) {
      const label = `op ${op.type} "${opName(op)}"`;
      if (op.type === "const") {
        const value = constValue(op);
        const info = tensorTypeInfo(value?.type);
        const name = op.outputs[0].name;
        if (!value || !info) continue;
        const needed = feedsConstexpr(name);
        const reported = wanted(name, info.dtype, info.shape);
        if (!needed && !reported) continue;
        const tensor = await readTensorValue(value, model, name);
        if (needed) parameters.set(name, tensor);
        if (reported) report(name, tensor);
      } else if (isConstexprOp(op.type)) {
        const inputs: Record<string, Tensor> = {};
        for (const [key, binding] of parameterBindings(op)) {
          if (typeof binding !== "string") {
            inputs[key] = await readTensorValue(binding, model, label);
            continue;
          }
          const tensor = parameters.get(binding);
          if (!tensor) throw new UnsupportedError(`${label}: parameter ${key} is not a constant`);
          inputs[key] = tensor;
        }
        const results = evaluateConstexpr(op.type, inputs, label);
        op.outputs.forEach(({ name }, i) => {
          const tensor = results[i];
          if (feedsConstexpr(name)) parameters.set(name, tensor);
          if (wanted(name, tensor.dtype, tensor.shape)) report(name, tensor);
        });
      }
    }
  }
  return result;
}

/**
 * The same facts for the weight fields of a neural network's layers (pipelines included), named
 * as `quantize_weights` reports them, each shaped as its layer sees it; the one child is the
 * layer that holds the field.
 */
function neuralWeightsMetadata(spec: Model, threshold: number): Map<string, WeightMetadata> {
  const result = new Map<string, WeightMetadata>();
  for (const { modelPath, network } of neuralNetworksIn(spec)) {
    for (const { layer, enclosing } of walkLayers(network)) {
      for (const { field, params } of layerWeightFields(layer)) {
        if (weightStorage(params).kind === "empty") continue;
        const name = neuralWeightName({
          modelPath,
          enclosingLayers: enclosing,
          layer: layer.name,
          field,
        });
        const data = dequantizeWeightParams(params, fieldLayout(layer, field), name);
        if (data.length <= threshold) continue;
        const layout = fieldLayout(layer, field);
        const shape =
          layout && elementCount(layout.shape) === data.length ? [...layout.shape] : [data.length];
        const child = { name: layer.name, type: layer.layer.case ?? "unknown", inputs: [field] };
        result.set(name, describeValues(name, { dtype: "fp32", shape, data }, [child]));
      }
    }
  }
  return result;
}

function weightMetadata(name: string, tensor: Tensor, graph: BlockGraph): WeightMetadata {
  const childOps = graph.consumers(name).map((child) => ({
    name: opName(child),
    type: child.type,
    inputs: Object.entries(child.inputs)
      .filter(([, argument]) =>
        argument.arguments.some((a) => a.binding.case === "name" && a.binding.value === name),
      )
      .map(([input]) => input),
  }));
  return describeValues(name, tensor, childOps);
}

function describeValues(name: string, tensor: Tensor, childOps: ChildOp[]): WeightMetadata {
  const values = numericValues(tensor);
  const { zeros, ...stats } = statsOf(values);
  return {
    name,
    value: tensor,
    stats,
    sparsity: zeros / values.length,
    uniqueValues: countUnique(values),
    childOps,
  };
}
