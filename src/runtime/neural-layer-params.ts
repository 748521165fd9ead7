/** Reading the parameters of neural-network layers: numbers, weights, border amounts. */
import { FormatError } from "../errors.js";
import type {
  BorderAmounts,
  NeuralNetworkLayer,
  WeightParams,
} from "../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import type { Gemm } from "../kernels/ops/matmul.js";
import { dequantizeWeightParams } from "../neural/dequantize.js";
import { fieldLayout } from "../neural/weights.js";

/** A layer ready to run: input blobs in, its output blob (or blobs, for split) out. */
export type LayerFunction = (inputs: Dense[], multiply: Gemm) => Dense | Dense[];

export const num = (v: bigint | number) => Number(v);

/**
 * The values of a layer's weight field as float32 (dequantized when stored quantized); with
 * `count`, checked to hold that many.
 */
export function weightValues(
  layer: NeuralNetworkLayer,
  field: string,
  params?: WeightParams,
  count?: number,
): Float32Array {
  const where = `layer "${layer.name}"`;
  if (!params) throw new FormatError(where, `has no ${field}`);
  const values = dequantizeWeightParams(params, fieldLayout(layer, field), `${where} ${field}`);
  if (count !== undefined && values.length !== count) {
    throw new FormatError(
      where,
      `${field} holds ${values.length} values, its shape needs ${count}`,
    );
  }
  return values;
}

/** Before/after padding of H and W from explicit border amounts. */
export function borderPads(amounts: BorderAmounts | undefined): [number, number, number, number] {
  const edges = amounts?.borderAmounts ?? [];
  const at = (axis: number): [number, number] => [
    num(edges[axis]?.startEdgeSize ?? 0),
    num(edges[axis]?.endEdgeSize ?? 0),
  ];
  return [...at(0), ...at(1)];
}

export function pair(values: bigint[], fallback: number): [number, number] {
  return values.length >= 2 ? [num(values[0]), num(values[1])] : [fallback, fallback];
}
