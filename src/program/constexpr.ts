/**
 * What Core ML's compile-time (`constexpr_*`) ops compute: op type -> evaluator from the op's
 * constant parameters (by parameter name) to its output tensors. Covers the iOS16 ops (whose
 * parameters coremltools writes as attributes) and the iOS18 ones (written as inputs); where
 * both opsets share an op name, the parameters tell them apart.
 */
import { linearDequantize, blockwiseShiftScale } from "../kernels/dequantize.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import { halfToFloatArray } from "../kernels/fp16.js";
import { lutToDense, lutToDensePacked } from "../kernels/lut.js";
import {
  gatherMasked,
  repeatAlongAxis,
  sparseToDense,
  sparseToDenseBits,
} from "../kernels/sparse.js";
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import { FormatError, UnsupportedError } from "../errors.js";

export type ConstexprInputs = Readonly<Record<string, Tensor>>;

export interface ConstexprEvaluator {
  /** Parameters the op needs; the others are optional. */
  readonly required: readonly string[];
  /**
   * Sparse ops: the parameter holding the mask and the one holding the values its set bits
   * place, whose counts must agree (validation checks them against the bytes present).
   */
  readonly masked?: readonly [mask: string, values: string];
  evaluate(inputs: ConstexprInputs): Tensor[];
}

function scalar(tensor: Tensor | undefined, what: string): number {
  if (!tensor || elementCount(tensor.shape) !== 1) throw new RangeError(`${what} must be a scalar`);
  const value = (tensor.data as ArrayLike<number | bigint | string>)[0];
  return Number(value);
}

function shapeOf(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<number>, Number);
}

function optionalAxis(inputs: ConstexprInputs): number | undefined {
  return inputs.vector_axis ? scalar(inputs.vector_axis, "vector_axis") : undefined;
}

/** The mask of a sparse-output op, widened along the vector axis like its values. */
function vectorMask(mask: Tensor, lut: Tensor, vectorAxis: number | undefined): Tensor {
  const vectorSize = lut.shape[lut.shape.length - 1];
  if (vectorSize <= 1) return mask;
  if (vectorAxis === undefined) throw new RangeError("vector_axis is needed with vector tables");
  return repeatAlongAxis(mask, vectorAxis, vectorSize);
}

export const CONSTEXPR_OPS: ReadonlyMap<string, ConstexprEvaluator> = new Map([
  [
    "constexpr_affine_dequantize",
    {
      required: ["quantized_data", "zero_point", "scale", "axis"],
      evaluate: (p: ConstexprInputs) => [
        linearDequantize(p.quantized_data, p.zero_point, p.scale, scalar(p.axis, "axis")),
      ],
    },
  ],
  [
    "constexpr_cast",
    {
      required: ["source_val", "output_dtype"],
      evaluate: (p: ConstexprInputs) => {
        const target = (p.output_dtype.data as string[])[0];
        if (p.source_val.dtype !== "fp16" || target !== "fp32") {
          throw new RangeError(`casts fp16 to fp32 only, not ${p.source_val.dtype} to ${target}`);
        }
        const data = halfToFloatArray(p.source_val.data as Uint16Array);
        return [{ dtype: "fp32", shape: p.source_val.shape, data }];
      },
    },
  ],
  [
    "constexpr_lut_to_dense",
    {
      required: ["indices", "lut"],
      evaluate: (p: ConstexprInputs) =>
        p.shape
          ? [lutToDensePacked(p.indices.data as Uint8Array, p.lut, shapeOf(p.shape))]
          : [lutToDense(p.indices, p.lut, optionalAxis(p))],
    },
  ],
  [
    "constexpr_sparse_to_dense",
    {
      required: ["nonzero_data", "mask"],
      masked: ["mask", "nonzero_data"],
      evaluate: (p: ConstexprInputs) => {
        if (!p.shape)
          return [sparseToDense(p.nonzero_data, p.mask.data as Uint8Array, p.mask.shape)];
        // iOS16: the mask is one bit per element packed into bytes, least significant bit first.
        const shape = shapeOf(p.shape);
        const count = elementCount(shape);
        const bytes = p.mask.data as Uint8Array;
        if (bytes.length !== Math.ceil(count / 8)) {
          throw new RangeError(
            `mask holds ${bytes.length} bytes, ${count} elements need ${Math.ceil(count / 8)}`,
          );
        }
        return [sparseToDenseBits(p.nonzero_data, bytes, shape)];
      },
    },
  ],
  [
    "constexpr_blockwise_shift_scale",
    {
      required: ["data", "scale"],
      evaluate: (p: ConstexprInputs) => [blockwiseShiftScale(p.data, p.scale, p.offset)],
    },
  ],
  [
    "constexpr_lut_to_sparse",
    {
      required: ["indices_mask", "indices_nonzero_data", "lut"],
      masked: ["indices_mask", "indices_nonzero_data"],
      evaluate: (p: ConstexprInputs) => {
        const mask = p.indices_mask;
        const vectorAxis = optionalAxis(p);
        const indices = sparseToDense(p.indices_nonzero_data, mask.data as Uint8Array, mask.shape);
        const dense = lutToDense(indices, p.lut, vectorAxis);
        const outMask = vectorMask(mask, p.lut, vectorAxis);
        return [outMask, gatherMasked(dense, outMask.data as Uint8Array)];
      },
    },
  ],
  [
    "constexpr_sparse_blockwise_shift_scale",
    {
      required: ["data_mask", "nonzero_data", "scale"],
      masked: ["data_mask", "nonzero_data"],
      evaluate: (p: ConstexprInputs) => {
        const mask = p.data_mask;
        const dense = sparseToDense(p.nonzero_data, mask.data as Uint8Array, mask.shape);
        const values = blockwiseShiftScale(dense, p.scale, p.offset);
        return [mask, gatherMasked(values, mask.data as Uint8Array)];
      },
    },
  ],
]);

export function isConstexprOp(type: string): boolean {
  return type.startsWith("constexpr_");
}

/**
 * Evaluates a constexpr op of type `type` on its parameters. `context` names the op in errors:
 * malformed parameters are a FormatError, an op type we do not know an UnsupportedError.
 */
export function evaluateConstexpr(
  type: string,
  inputs: ConstexprInputs,
  context: string,
): Tensor[] {
  const evaluator = CONSTEXPR_OPS.get(type);
  if (!evaluator) throw new UnsupportedError(`${context}: cannot evaluate ${type} ops`);
  const missing = evaluator.required.filter((name) => !inputs[name]);
  if (missing.length)
    throw new FormatError(context, `${type} lacks parameter ${missing.join(", ")}`);
  try {
    return evaluator.evaluate(inputs);
  } catch (error) {
    if (error instanceof RangeError) throw new FormatError(context, `${type}: ${error.message}`);
    throw error;
  }
}

/** The op's parameters: iOS16 constexpr ops hold them as attributes, iOS18 ones as inputs. */
export function parameterBindings(op: Operation): [string, string | Value][] {
  const bindings: [string, string | Value][] = [];
  for (const [key, value] of Object.entries(op.attributes)) {
    if (key !== "name") bindings.push([key, value]);
  }
  for (const [key, argument] of Object.entries(op.inputs)) {
    const binding = argument.arguments[0]?.binding;
    if (binding?.case === "name" || binding?.case === "value") bindings.push([key, binding.value]);
  }
  return bindings;
}
