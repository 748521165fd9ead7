/**
 * Joint compression (coremltools' `joint_compression=True`, iOS18+): a second compression
 * applied to a parameter of an op the first one made, instead of to a const weight.
 *
 * - A pruned weight's `nonzero_data` (of `constexpr_sparse_to_dense`) is compressed as the dense
 *   weight it stands for (pruned positions included, as coremltools does); the op then reads the
 *   kept positions from `constexpr_sparse_blockwise_shift_scale` (quantization) or
 *   `constexpr_lut_to_sparse` (palettization).
 * - A palettized weight's table (`lut` of `constexpr_lut_to_dense` / `constexpr_lut_to_sparse`)
 *   is quantized per tensor through a `constexpr_blockwise_shift_scale` feeding that input.
 *
 * coremltools names such a parameter `<op name>_<input name>_0` (the const it makes of an inline
 * value when it loads a program); the ops replacing it are named after that.
 */
import { clone, create } from "@bufbuild/protobuf";
import {
  ArgumentSchema,
  OperationSchema,
  ValueSchema,
  type Operation,
  type Value,
} from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError, FormatError } from "../errors.js";
import { elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import { gatherMaskedBits, sparseToDenseBits } from "../kernels/sparse.js";
import type { OutputSpec } from "../program/ops.js";
import { inputValues, makeOperation, opName } from "../program/ops.js";
import type { RewriteContext } from "../program/rewriter.js";
import { requireTarget } from "../program/targets.js";
import { tensorTypeInfo } from "../program/types.js";
import { allOperations } from "../program/walk.js";

/** Which input of which constexpr op a compression may compress further, by op type. */
export type JointInputs = Readonly<Record<string, string>>;

export const SPARSE_DATA = "nonzero_data";
export const LUT = "lut";

/** A compressed op's parameter chosen for joint compression. */
export interface JointParameter {
  /** The constexpr op holding the parameter; the compression replaces it. */
  readonly op: Operation;
  /** The op's input holding the parameter. */
  readonly input: string;
  /**
   * For a sparse parameter: the op's mask, one bit per dense element packed least significant
   * first (a compression may hand its buffer to a worker), how many are set, and its stored
   * value.
   */
  readonly mask?: { readonly packed: Uint8Array; readonly kept: number; readonly value: Value };
}

/** A parameter as the driver first sees it, before reading it. */
export interface JointCandidate {
  readonly name: string;
  readonly input: string;
  readonly value: Value;
  /** The stored parameter's type and element count (for the size checks and reports). */
  readonly stored: { dtype: ElementType; count: number };
  /** The op's (dense) output, whose consumers decide config and channel axes. */
  readonly output: { name: string; rank: number; count: number };
}

/** The parameter `inputs` selects in `op`, if the op holds it inline. */
function jointValue(op: Operation, inputs: JointInputs): Value | undefined {
  const input = inputs[op.type];
  if (input === undefined) return undefined;
  const values = inputValues(op, input);
  return values.length === 1 ? values[0] : undefined;
}

/**
 * Fails unless joint compression can apply to `model`: every ML program targets iOS18 or newer
 * (coremltools refuses older ones), and some op holds a parameter the pass can compress
 * (otherwise the flag is a mistake: the model was not compressed by a suitable first step).
 */
export function checkJointModel(model: MLModel, inputs: JointInputs, passName: string): void {
  let found = false;
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case !== "mlProgram") continue;
    requireTarget(nested.specificationVersion, "iOS18", `${passName}: joint compression`);
    for (const { op } of allOperations(nested.Type.value)) {
      if (jointValue(op, inputs)) found = true;
    }
  }
  if (!found) {
    const ops = Object.entries(inputs).map(([type, input]) => `${type} (${input})`);
    throw new ConfigError(
      `joint compression with ${passName} needs a compressed model: it found no ${ops.join(", ")} ` +
        `op to compress further (run the first compression, or drop the joint option)`,
    );
  }
}

/** The parameter names joint compression gives weights of `model` (for op_name_configs). */
export function jointParameterNames(model: MLModel, inputs: JointInputs): string[] {
  const names: string[] = [];
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case !== "mlProgram") continue;
    for (const { op } of allOperations(nested.Type.value)) {
      if (jointValue(op, inputs)) names.push(`${opName(op)}_${inputs[op.type]}_0`);
    }
  }
  return names;
}

/** The parameter of `op` that joint compression may compress, if it holds one inline. */
export function jointCandidate(op: Operation, inputs: JointInputs): JointCandidate | undefined {
  const value = jointValue(op, inputs);
  const info = tensorTypeInfo(value?.type);
  const output = op.outputs[op.outputs.length - 1];
  const outputInfo = tensorTypeInfo(output?.type);
  if (!value || !info || !outputInfo) return undefined;
  if ([...info.shape, ...outputInfo.shape].some((d) => d === null)) return undefined;
  const input = inputs[op.type];
  return {
    name: `${opName(op)}_${input}_0`,
    input,
    value,
    stored: { dtype: info.dtype, count: elementCount(info.shape as number[]) },
    output: {
      name: output.name,
      rank: outputInfo.shape.length,
      count: elementCount(outputInfo.shape as number[]),
    },
  };
}

/**
 * Reads a candidate: what to compress (the dense weight of a sparse parameter, else the
 * parameter itself) and the parameter as compressions see it.
 */
export async function readJointCandidate(
  context: RewriteContext,
  candidate: JointCandidate,
): Promise<{ tensor: Tensor; parameter: JointParameter } | undefined> {
  const { op } = context;
  const { input } = candidate;
  const stored = await context.read(candidate.value);
  if (input !== SPARSE_DATA) return { tensor: stored, parameter: { op, input } };
  const maskValue = inputValues(op, "mask")[0];
  if (!maskValue) return undefined;
  const shape = tensorTypeInfo(maskValue.type)?.shape;
  if (!shape || shape.includes(null)) return undefined;
  const packed = await context.readPackedBits(maskValue);
  return {
    tensor: denseOfSparse(op, stored, packed, shape as number[]),
    parameter: { op, input, mask: { packed, kept: stored.data.length, value: maskValue } },
  };
}

/** The dense weight of a sparse op; a mask that disagrees with its values is a broken file. */
function denseOfSparse(op: Operation, values: Tensor, packed: Uint8Array, shape: number[]): Tensor {
  try {
    return sparseToDenseBits(values, packed, shape);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new FormatError(`op ${op.type} "${opName(op)}"`, error.message);
  }
}

/** A copy of a stored value for another op (the rewriter copies each use's blob once). */
function reuse(value: Value): Value {
  return clone(ValueSchema, value);
}

/** The replaced op again, with `input` now read from `from`. */
function rebound(op: Operation, input: string, from: string): Operation {
  const copy = clone(OperationSchema, op);
  copy.inputs[input] = create(ArgumentSchema, {
    arguments: [{ binding: { case: "name", value: from } }],
  });
  return copy;
}

/**
 * Ops replacing a sparse parameter's op: `sparseOp` (type, inputs other than the mask, which it
 * gets under `maskInput`) yields the mask and the kept values, which a new
 * `constexpr_sparse_to_dense` (same name and output as the old one) turns into the weight.
 */
export function sparseJointOps(
  parameter: JointParameter,
  sparseOp: { type: string; name: string; maskInput: string; inputs: Record<string, Value> },
  nonzeroDtype: ElementType,
  keepMaskInput: boolean,
): Operation[] {
  const { op, mask } = parameter;
  if (!mask) throw new Error(`${opName(op)} has no mask`);
  const dense = op.outputs[0];
  const denseInfo = tensorTypeInfo(dense.type)!;
  const shape = denseInfo.shape as number[];
  const kept = mask.kept;
  const outputs: OutputSpec[] = [
    { name: `${sparseOp.name}_0`, dtype: "uint1", shape },
    { name: `${sparseOp.name}_1`, dtype: nonzeroDtype, shape: [kept] },
  ];
  const compressed = makeOperation(
    sparseOp.type,
    sparseOp.name,
    { [sparseOp.maskInput]: reuse(mask.value), ...sparseOp.inputs },
    outputs,
  );
  // Quantization keeps the old mask; palettization reads it from the new op, as coremltools does.
  const densified = makeOperation(
    "constexpr_sparse_to_dense",
    opName(op),
    {
      nonzero_data: outputs[1].name,
      mask: keepMaskInput ? reuse(mask.value) : outputs[0].name,
    },
    [{ name: dense.name, dtype: denseInfo.dtype, shape }],
  );
  return [compressed, densified];
}

/** Ops replacing a dense parameter's op: `compressed` makes the parameter, the op reads it. */
export function denseJointOps(parameter: JointParameter, compressed: Operation): Operation[] {
  return [compressed, rebound(parameter.op, parameter.input, compressed.outputs[0].name)];
}

/** The kept (mask set) elements of a dense tensor, as a vector. */
export function keptValues(tensor: Tensor, parameter: JointParameter): Tensor {
  return gatherMaskedBits(tensor, parameter.mask!.packed, parameter.mask!.kept);
}
