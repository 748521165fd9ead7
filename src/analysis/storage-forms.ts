/**
 * How a weight is stored: dense, or the chain of `constexpr_*` ops that produce it, described
 * from the types of their inputs (bits, granularity, LUT size, sparsity) without reading data.
 */
import type { Operation, ValueType } from "../format/gen/MIL_pb.js";
import { ELEMENT_TYPES, byteLength, elementCount } from "../kernels/dtype.js";
import type { BlockGraph } from "../program/graph.js";
import { constValue } from "../program/ops.js";
import { tensorTypeInfo, type TensorTypeInfo } from "../program/types.js";

export interface StorageStep {
  op: string;
  /** e.g. "int4 per-block [1,32]", "lut 4-bit per-tensor", "sparse 50.0%". */
  description: string;
  bits?: number;
  granularity?: string;
  lutSize?: number;
  sparsity?: number;
}

/** Type of one input of `op`, bound inline or by name (iOS16 constexpr ops: an attribute). */
function inputType(op: Operation, input: string, graph: BlockGraph): TensorTypeInfo | undefined {
  const binding = op.inputs[input]?.arguments[0]?.binding;
  let type: ValueType | undefined = op.attributes[input]?.type;
  if (binding?.case === "value") type = binding.value.type;
  else if (binding?.case === "name") {
    const producer = graph.producer(binding.value);
    type = producer?.op.outputs[producer.output]?.type;
  }
  return tensorTypeInfo(type);
}

function knownShape(info: TensorTypeInfo | undefined): number[] | undefined {
  return info && info.shape.every((d) => d !== null) ? (info.shape as number[]) : undefined;
}

/** Per-tensor, per-channel (axis) or per-block, from a parameter's shape against the data's. */
function granularityOf(data: number[] | undefined, params: number[] | undefined): string {
  if (!data || !params) return "";
  if (params.length === 0 || elementCount(params) === 1) return "per-tensor";
  const aligned =
    params.length === data.length
      ? params
      : [...Array(data.length - params.length).fill(1), ...params];
  const blocks = data.map((d, i) => d / aligned[i]);
  const split = aligned.map((p, i) => (p > 1 ? i : -1)).filter((i) => i >= 0);
  if (split.length === 1 && blocks[split[0]] === 1) return `per-channel (axis ${split[0]})`;
  return `per-block [${blocks.join(",")}]`;
}

function sparsityOf(
  nonzero: TensorTypeInfo | undefined,
  dense: number[] | undefined,
): number | undefined {
  const nz = knownShape(nonzero);
  if (!nz || !dense) return undefined;
  return 1 - elementCount(nz) / elementCount(dense);
}

function outputShape(op: Operation): number[] | undefined {
  return knownShape(tensorTypeInfo(op.outputs[op.outputs.length - 1]?.type));
}

export function describeStep(op: Operation, graph: BlockGraph): StorageStep {
  const type = (input: string) => inputType(op, input, graph);
  const dense = outputShape(op);
  switch (op.type) {
    case "constexpr_affine_dequantize": {
      const data = type("quantized_data");
      const scale = knownShape(type("scale"));
      const granularity = !scale || elementCount(scale) <= 1 ? "per-tensor" : "per-channel";
      const bits = data ? ELEMENT_TYPES[data.dtype].bits : undefined;
      return {
        op: op.type,
        bits,
        granularity,
        description: `${data?.dtype ?? "?"} affine ${granularity}`,
      };
    }
    case "constexpr_blockwise_shift_scale":
    case "constexpr_sparse_blockwise_shift_scale": {
      const data = type(op.type === "constexpr_blockwise_shift_scale" ? "data" : "nonzero_data");
      const shape = knownShape(
        op.type === "constexpr_blockwise_shift_scale" ? data : type("data_mask"),
      );
      const granularity = granularityOf(shape, knownShape(type("scale")));
      const symmetric = op.inputs["offset"] ? "" : " symmetric";
      const bits = data ? ELEMENT_TYPES[data.dtype].bits : undefined;
      return {
        op: op.type,
        bits,
        granularity,
        description: `${data?.dtype ?? "?"}${symmetric} ${granularity}`,
      };
    }
    case "constexpr_lut_to_dense":
    case "constexpr_lut_to_sparse": {
      const lut = knownShape(type("lut"));
      const indices = type(
        op.type === "constexpr_lut_to_dense" ? "indices" : "indices_nonzero_data",
      );
      if (lut && lut.length === 1) {
        // iOS16 form: one table of 2^bits entries.
        const bits = Math.log2(lut[0]);
        return {
          op: op.type,
          bits,
          granularity: "per-tensor",
          lutSize: lut[0],
          description: `lut ${bits}-bit per-tensor`,
        };
      }
      const bits = indices ? ELEMENT_TYPES[indices.dtype].bits : undefined;
      const tables = lut ? elementCount(lut.slice(0, -2)) : 0;
      const vector = lut ? lut[lut.length - 1] : 1;
      const granularity = tables <= 1 ? "per-tensor" : `${tables} groups`;
      const lutSize = lut ? lut[lut.length - 2] : undefined;
      const vectorNote = vector > 1 ? ` vector ${vector}` : "";
      return {
        op: op.type,
        bits,
        granularity,
        lutSize,
        description: `lut ${bits}-bit ${granularity}${vectorNote}`,
      };
    }
    case "constexpr_sparse_to_dense": {
      const sparsity = sparsityOf(type("nonzero_data"), dense);
      return {
        op: op.type,
        sparsity,
        description: `sparse ${sparsity === undefined ? "?" : (sparsity * 100).toFixed(1)}%`,
      };
    }
    case "constexpr_cast": {
      const source = type("source_val");
      return { op: op.type, description: `${source?.dtype ?? "?"} cast` };
    }
    default:
      return { op: op.type, description: op.type };
  }
}

/** Whether an op is a compile-time decompression op. */
export function isConstexpr(op: Operation): boolean {
  return op.type.startsWith("constexpr_");
}

/** The constexpr ops producing a weight, from the final one back to the first. */
export function constexprChain(final: Operation, graph: BlockGraph): Operation[] {
  const chain: Operation[] = [];
  const seen = new Set<Operation>();
  const visit = (op: Operation) => {
    if (seen.has(op)) return;
    seen.add(op);
    chain.push(op);
    for (const argument of Object.values(op.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case !== "name") continue;
        const producer = graph.producer(binding.value)?.op;
        if (producer && isConstexpr(producer)) visit(producer);
      }
    }
  };
  visit(final);
  return chain;
}

/** Bytes of literal data the ops of a chain hold (inline values and the consts they read). */
export function storedBytes(chain: Operation[], graph: BlockGraph): number {
  let bytes = 0;
  const counted = new Set<unknown>();
  const addBytes = (type: ValueType | undefined) => {
    const info = tensorTypeInfo(type);
    const shape = knownShape(info);
    if (info && shape && info.dtype !== "string")
      bytes += byteLength(info.dtype, elementCount(shape));
  };
  for (const op of chain) {
    for (const [key, attribute] of Object.entries(op.attributes))
      if (key !== "name") addBytes(attribute.type);
    for (const argument of Object.values(op.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case === "value") addBytes(binding.value.type);
        else if (binding.case === "name") {
          const producer = graph.producer(binding.value)?.op;
          if (!producer || producer.type !== "const" || counted.has(producer)) continue;
          counted.add(producer);
          addBytes(constValue(producer)?.type);
        }
      }
    }
  }
  return bytes;
}
