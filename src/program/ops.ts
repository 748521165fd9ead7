/** Reading and building MIL operations. */
import { create } from "@bufbuild/protobuf";
import {
  ArgumentSchema,
  NamedValueTypeSchema,
  OperationSchema,
  type Operation,
  type Value,
} from "../format/gen/MIL_pb.js";
import type { ElementType } from "../kernels/dtype.js";
import { tensorValueType } from "./types.js";
import { stringValue } from "./values.js";

/** The op's name: its `name` attribute, else its first output's name. */
export function opName(op: Operation): string {
  const attribute = op.attributes["name"]?.value;
  if (attribute?.case === "immediateValue" && attribute.value.value.case === "tensor") {
    const field = attribute.value.value.value.value;
    if (field.case === "strings" && field.value.values.length === 1) return field.value.values[0];
  }
  return op.outputs[0]?.name ?? "";
}

/** The literal value of a `const` op. */
export function constValue(op: Operation): Value | undefined {
  return op.type === "const" ? op.attributes["val"] : undefined;
}

/** The value names bound to one input of an op (several for variadic inputs). */
export function inputNames(op: Operation, input: string): string[] {
  const names: string[] = [];
  for (const binding of op.inputs[input]?.arguments ?? []) {
    if (binding.binding.case === "name") names.push(binding.binding.value);
  }
  return names;
}

/** The literal values bound to one input of an op. */
export function inputValues(op: Operation, input: string): Value[] {
  const values: Value[] = [];
  for (const binding of op.inputs[input]?.arguments ?? []) {
    if (binding.binding.case === "value") values.push(binding.binding.value);
  }
  return values;
}

/** An op input bound to a named value, or inline to a literal value. */
export type InputBinding = string | Value;

export interface OutputSpec {
  name: string;
  dtype: ElementType;
  shape: readonly number[];
}

/** Builds an op with a `name` attribute, as coremltools serializes every op. */
export function makeOperation(
  type: string,
  name: string,
  inputs: Record<string, InputBinding | InputBinding[]>,
  outputs: OutputSpec[],
  attributes: Record<string, Value> = {},
): Operation {
  const opInputs: Operation["inputs"] = {};
  for (const [key, bound] of Object.entries(inputs)) {
    const list = Array.isArray(bound) ? bound : [bound];
    opInputs[key] = create(ArgumentSchema, {
      arguments: list.map((b) =>
        typeof b === "string"
          ? { binding: { case: "name" as const, value: b } }
          : { binding: { case: "value" as const, value: b } },
      ),
    });
  }
  return create(OperationSchema, {
    type,
    inputs: opInputs,
    outputs: outputs.map((o) =>
      create(NamedValueTypeSchema, { name: o.name, type: tensorValueType(o.dtype, o.shape) }),
    ),
    attributes: { name: stringValue(name), ...attributes },
  });
}

/** A `const` op whose single output is `name`. */
export function makeConstOperation(name: string, value: Value): Operation {
  return create(OperationSchema, {
    type: "const",
    outputs: [create(NamedValueTypeSchema, { name, type: value.type })],
    attributes: { name: stringValue(name), val: value },
  });
}
