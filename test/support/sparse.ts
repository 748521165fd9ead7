/** Reading the pruned weights of models (ours and coremltools' golden ones) for comparisons. */
import type { Operation, Value } from "../../src/format/gen/MIL_pb.js";
import type { MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { unpackSubByte } from "../../src/kernels/bitpack.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";
import { goldenCases, goldenPath, type GoldenCase } from "./golden.js";

/** Every op of the model's main program, by name. */
export function opsByName(model: MLModel): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  if (model.spec.Type.case !== "mlProgram") throw new Error("not an ML program");
  for (const { op } of allOperations(model.spec.Type.value)) ops.set(opName(op), op);
  return ops;
}

/** A constexpr op parameter: an iOS16 attribute or an iOS18 input bound inline or to a const. */
function parameterValue(op: Operation, name: string, ops: Map<string, Operation>): Value {
  const attribute = op.attributes[name];
  if (attribute) return attribute;
  const binding = op.inputs[name]?.arguments[0]?.binding;
  if (binding?.case === "value") return binding.value;
  if (binding?.case === "name") {
    const producer = ops.get(binding.value);
    const value = producer && constValue(producer);
    if (value) return value;
  }
  throw new Error(`op ${opName(op)} has no parameter ${name}`);
}

export async function readParameter(
  model: MLModel,
  op: Operation,
  name: string,
  ops: Map<string, Operation>,
): Promise<Tensor> {
  return readTensorValue(parameterValue(op, name, ops), model, `${opName(op)}.${name}`);
}

/** The 0/1 mask of a constexpr_sparse_to_dense op in either form. */
export async function sparseMask(
  model: MLModel,
  op: Operation,
  ops: Map<string, Operation>,
): Promise<Uint8Array> {
  const mask = await readParameter(model, op, "mask", ops);
  if (mask.dtype === "uint1") return mask.data as Uint8Array;
  const shape = await readParameter(model, op, "shape", ops);
  const count = Array.from(shape.data as Uint32Array).reduce((a, b) => a * b, 1);
  return unpackSubByte(mask.data as Uint8Array, 1, count, false) as Uint8Array;
}

/** Golden cases named `prefix`…, with absolute paths to their base and output models. */
export function casesNamed(
  prefix: string,
): (GoldenCase & { basePath: string; outputPath: string })[] {
  return goldenCases((c) => c.name.startsWith(prefix)).map((c) => ({
    ...c,
    basePath: goldenPath(c.base),
    outputPath: goldenPath(c.output),
  }));
}
