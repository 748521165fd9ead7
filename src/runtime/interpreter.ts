/**
 * Runs the main function of an ML program on the CPU. Loading checks that every op is
 * supported and reads every constant once (compressed `constexpr_*` weights are materialized
 * densely then); each prediction then runs the remaining ops in
 * order, in float32, rounding each op's outputs to the element type the program declares
 * (so fp16 programs see fp16 activations, as on device).
 */
import type { Block, Operation, Value } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { ConfigError, FormatError, UnsupportedError } from "../errors.js";
import { ELEMENT_TYPES, type ElementType, type Tensor } from "../kernels/dtype.js";
import { opName } from "../program/ops.js";
import { tensorTypeInfo, type Dim } from "../program/types.js";
import { readTensorValue } from "../program/values.js";
import { CONSTEXPR_OPS, evaluateConstexpr, isConstexprOp } from "../passes/constexpr.js";
import { parameterBindings } from "../passes/decompress.js";
import { OpContext, type DeclaredOutput } from "./kernel.js";
import { kernelFor } from "./registry.js";
import {
  fromTensor,
  isNumeric,
  roundInPlace,
  toTensor,
  type NumericValue,
  type RuntimeValue,
} from "./value.js";

export interface ProgramIO {
  name: string;
  dtype: ElementType;
  /** null for dimensions the program leaves open. */
  shape: Dim[];
}

interface Step {
  op: Operation;
  name: string;
  outputs: DeclaredOutput[];
  run: (ctx: OpContext) => NumericValue[] | NumericValue;
  /** Values no later step (nor the outputs) needs once this step has run. */
  release: string[];
}

/** The main (or named) function of a model's ML program, with its constants loaded. */
export class Interpreter {
  private constructor(
    readonly inputs: readonly ProgramIO[],
    readonly outputs: readonly ProgramIO[],
    private readonly constants: Map<string, RuntimeValue>,
    private readonly literals: Map<Value, RuntimeValue>,
    private readonly steps: Step[],
  ) {}

  /** Prepares a model's program; fails (before running anything) on ops it cannot run. */
  static async load(model: MLModel, functionName?: string): Promise<Interpreter> {
    const spec = model.spec;
    if (spec.Type.case !== "mlProgram") {
      throw new UnsupportedError(
        `only ML programs can be run (this model is a ${spec.Type.case ?? "empty model"})`,
      );
    }
    const program = spec.Type.value;
    const name = functionName ?? (spec.description?.defaultFunctionName || "main");
    const fn = program.functions[name];
    if (!fn) throw new ConfigError(`the program has no function "${name}"`);
    const block = fn.blockSpecializations[fn.opset] ?? Object.values(fn.blockSpecializations)[0];
    if (!block) throw new FormatError(`function ${name}`, "has no block");
    checkSupported(block);

    const constants = new Map<string, RuntimeValue>();
    const literals = new Map<Value, RuntimeValue>();
    const steps: Step[] = [];
    // Constants that constexpr ops read, in their stored types (dropped once all are evaluated).
    const constexprInputs = constexprParameterNames(block);
    const stored = new Map<string, Tensor>();
    for (const op of block.operations) {
      const label = `op ${op.type} "${opName(op)}"`;
      if (op.type === "const") {
        const value = op.attributes["val"];
        if (!value) throw new FormatError(label, "const op has no value");
        const tensor = await readTensorValue(value, model, label);
        constants.set(op.outputs[0].name, fromTensor(tensor));
        if (constexprInputs.has(op.outputs[0].name)) stored.set(op.outputs[0].name, tensor);
        continue;
      }
      if (isConstexprOp(op.type)) {
        const parameters: Record<string, Tensor> = {};
        for (const [key, binding] of parameterBindings(op)) {
          if (typeof binding !== "string") {
            parameters[key] = await readTensorValue(binding, model, label);
            continue;
          }
          const tensor = stored.get(binding);
          if (!tensor) throw new UnsupportedError(`${label}: parameter ${key} is not a constant`);
          parameters[key] = tensor;
        }
        const results = evaluateConstexpr(op.type, parameters, label);
        op.outputs.forEach((output, i) => {
          constants.set(output.name, fromTensor(results[i]));
          if (constexprInputs.has(output.name)) stored.set(output.name, results[i]);
        });
        continue;
      }
      for (const argument of Object.values(op.inputs)) {
        for (const binding of argument.arguments) {
          if (binding.binding.case === "value") {
            const literal = binding.binding.value;
            literals.set(literal, fromTensor(await readTensorValue(literal, model, label)));
          }
        }
      }
      steps.push({
        op,
        name: opName(op),
        outputs: op.outputs.map((o) => {
          const info = tensorTypeInfo(o.type);
          return { dtype: info?.dtype, shape: info?.shape };
        }),
        run: kernelFor(op.type)!,
        release: [],
      });
    }
    planReleases(steps, block, constants);
    const io = (name: string, type: Parameters<typeof tensorTypeInfo>[0]): ProgramIO => {
      const info = tensorTypeInfo(type);
      if (!info) throw new UnsupportedError(`program value "${name}" is not a tensor`);
      return { name, dtype: info.dtype, shape: info.shape };
    };
    const inputs = fn.inputs.map((i) => io(i.name, i.type));
    const declared = new Map<string, Parameters<typeof tensorTypeInfo>[0]>();
    for (const i of fn.inputs) declared.set(i.name, i.type);
    for (const op of block.operations) for (const o of op.outputs) declared.set(o.name, o.type);
    const outputs = block.outputs.map((o) => io(o, declared.get(o)));
    return new Interpreter(inputs, outputs, constants, literals, steps);
  }

  /** Runs the program on one set of inputs; float outputs come back as fp32 tensors. */
  predict(inputs: Record<string, Tensor>): Record<string, Tensor> {
    const values = new Map<string, RuntimeValue>();
    for (const input of this.inputs) {
      const given = inputs[input.name];
      if (!given) throw new ConfigError(`missing input "${input.name}"`);
      values.set(input.name, this.convertInput(input, given));
    }
    const lookup = (name: string): RuntimeValue => {
      const value = values.get(name) ?? this.constants.get(name);
      if (!value) throw new FormatError(`value "${name}"`, "is used before it is defined");
      return value;
    };
    for (const step of this.steps) {
      const ctx = new OpContext(step.op, step.name, step.outputs, (input) =>
        step.op.inputs[input].arguments.map((a) =>
          a.binding.case === "name"
            ? lookup(a.binding.value)
            : this.literals.get(a.binding.value as Value)!,
        ),
      );
      const produced = step.run(ctx);
      const results = Array.isArray(produced) ? produced : [produced];
      if (results.length < step.op.outputs.length) {
        throw new Error(`op ${step.op.type} "${step.name}" produced ${results.length} outputs`);
      }
      step.op.outputs.forEach((output, i) => {
        values.set(output.name, this.storeOutput(step, i, results[i]));
      });
      for (const name of step.release) values.delete(name);
    }
    const result: Record<string, Tensor> = {};
    for (const output of this.outputs) {
      const value = lookup(output.name);
      const kind = ELEMENT_TYPES[output.dtype].kind;
      result[output.name] = toTensor(value, kind === "float" ? "fp32" : output.dtype);
    }
    return result;
  }

  private convertInput(input: ProgramIO, given: Tensor): RuntimeValue {
    const shapeMatches =
      given.shape.length === input.shape.length &&
      input.shape.every((d, i) => d === null || d === given.shape[i]);
    if (!shapeMatches) {
      throw new ConfigError(
        `input "${input.name}" has shape [${given.shape.join(",")}], the program expects [${input.shape.map((d) => d ?? "?").join(",")}]`,
      );
    }
    const value = fromTensor(given);
    if (!isNumeric(value) || value.dtype === input.dtype || input.dtype === "string") return value;
    const data = Float32Array.from(value.data);
    roundInPlace(data, input.dtype);
    return { dtype: input.dtype, shape: value.shape, data };
  }

  private storeOutput(step: Step, index: number, value: NumericValue): NumericValue {
    const declared = step.outputs[index];
    const dtype = declared.dtype && declared.dtype !== "string" ? declared.dtype : value.dtype;
    const shape = declared.shape;
    if (
      shape &&
      (shape.length !== value.shape.length ||
        shape.some((d, i) => d !== null && d !== value.shape[i]))
    ) {
      throw new Error(
        `op ${step.op.type} "${step.name}" computed shape [${value.shape.join(",")}], the program declares [${shape.map((d) => d ?? "?").join(",")}]`,
      );
    }
    if (dtype === "fp16" || (dtype !== value.dtype && ELEMENT_TYPES[dtype].kind !== "float")) {
      roundInPlace(value.data, dtype);
    }
    return { dtype, shape: value.shape, data: value.data };
  }
}

/** Throws naming every op type of the block that the interpreter cannot run. */
function checkSupported(block: Block): void {
  const missing = new Map<string, string>();
  for (const op of block.operations) {
    if (op.type === "const" || kernelFor(op.type) || CONSTEXPR_OPS.has(op.type)) continue;
    if (!missing.has(op.type)) missing.set(op.type, opName(op));
  }
  if (missing.size > 0) {
    const list = [...missing].map(([type, name]) => `${type} (first: "${name}")`).join(", ");
    throw new UnsupportedError(`the interpreter does not support op ${list}`);
  }
}

/** Names of the values constexpr ops take as parameters. */
function constexprParameterNames(block: Block): Set<string> {
  const names = new Set<string>();
  for (const op of block.operations) {
    if (!isConstexprOp(op.type)) continue;
    for (const [, binding] of parameterBindings(op))
      if (typeof binding === "string") names.add(binding);
  }
  return names;
}

/** Marks on each step the values it is the last reader of, so predictions free them early. */
function planReleases(steps: Step[], block: Block, constants: Map<string, RuntimeValue>): void {
  const lastUse = new Map<string, number>();
  steps.forEach((step, index) => {
    for (const argument of Object.values(step.op.inputs)) {
      for (const binding of argument.arguments) {
        if (binding.binding.case === "name") lastUse.set(binding.binding.value, index);
      }
    }
  });
  const keep = new Set(block.outputs);
  for (const [name, index] of lastUse) {
    if (!keep.has(name) && !constants.has(name)) steps[index].release.push(name);
  }
}

const loaded = new WeakMap<MLModel, Promise<Interpreter>>();

/**
 * Runs a model's ML program on one set of inputs (the program is prepared once per model
 * object and reused). Inputs are converted to the program's input types; float outputs are
 * returned as fp32.
 */
export async function predict(
  model: MLModel,
  inputs: Record<string, Tensor>,
): Promise<Record<string, Tensor>> {
  let interpreter = loaded.get(model);
  if (!interpreter) {
    interpreter = Interpreter.load(model);
    loaded.set(model, interpreter);
    interpreter.catch(() => loaded.delete(model));
  }
  return (await interpreter).predict(inputs);
}
