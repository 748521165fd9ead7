/**
 * Per-weight facts coremltools' `get_weights_metadata` reports: the values, their sparsity,
 * the number of distinct values, and the ops that consume the weight — to pick op-name
 * configs before compressing.
 */
import type { MLModel } from "../format/model.js";
import { halfToFloatArray } from "../kernels/fp16.js";
import { ELEMENT_TYPES, elementCount, type Tensor } from "../kernels/dtype.js";
import { BlockGraph } from "../program/graph.js";
import { constValue, opName } from "../program/ops.js";
import { tensorTypeInfo } from "../program/types.js";
import { readTensorValue } from "../program/values.js";
import { functionBlocks, walkOperations } from "../program/walk.js";

export interface ChildOp {
  name: string;
  type: string;
  /** Which input of the child op the weight feeds. */
  inputs: string[];
}

export interface WeightMetadata {
  name: string;
  value: Tensor;
  /** Fraction of elements equal to zero. */
  sparsity: number;
  uniqueValues: number;
  childOps: ChildOp[];
}

export interface WeightsMetadataOptions {
  /** Only weights with more elements than this are reported (coremltools' default: 2048). */
  weightThreshold?: number;
}

function floatValues(tensor: Tensor): Float32Array | Float64Array {
  if (tensor.dtype === "fp16") return halfToFloatArray(tensor.data as Uint16Array);
  return tensor.data as Float32Array | Float64Array;
}

function countUnique(values: Float32Array | Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  let unique = sorted.length > 0 ? 1 : 0;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1]) unique++;
  return unique;
}

export async function getWeightsMetadata(
  model: MLModel,
  options: WeightsMetadataOptions = {},
): Promise<Map<string, WeightMetadata>> {
  const threshold = options.weightThreshold ?? 2048;
  const result = new Map<string, WeightMetadata>();
  if (model.spec.Type.case !== "mlProgram") return result;
  const seen = new Set<string>();
  for (const { functionName, block } of functionBlocks(model.spec.Type.value)) {
    if (seen.has(functionName)) continue;
    seen.add(functionName);
    const graph = new BlockGraph(block);
    for (const { op } of walkOperations(block)) {
      const value = constValue(op);
      const info = tensorTypeInfo(value?.type);
      if (!value || !info || ELEMENT_TYPES[info.dtype].kind !== "float") continue;
      if (info.shape.some((d) => d === null) || elementCount(info.shape as number[]) <= threshold)
        continue;
      const name = op.outputs[0].name;
      const tensor = await readTensorValue(value, model, name);
      const values = floatValues(tensor);
      let zeros = 0;
      for (const v of values) if (v === 0) zeros++;
      const childOps = graph.consumers(name).map((child) => ({
        name: opName(child),
        type: child.type,
        inputs: Object.entries(child.inputs)
          .filter(([, argument]) =>
            argument.arguments.some((a) => a.binding.case === "name" && a.binding.value === name),
          )
          .map(([input]) => input),
      }));
      result.set(name, {
        name,
        value: tensor,
        sparsity: zeros / values.length,
        uniqueValues: countUnique(values),
        childOps,
      });
    }
  }
  return result;
}
