/**
 * Building ML programs from code: inputs, constants, the common layer ops and outputs, written
 * as coremltools writes them (parameters as named `const` ops, large constants in the weight
 * file). Tests and benchmarks generate their models with it. Weights stream straight into the
 * blob writer, so a model larger than memory can be generated.
 */
import { create } from "@bufbuild/protobuf";
import {
  ArrayFeatureType_ArrayDataType,
  FeatureTypeSchema,
  StateFeatureTypeSchema,
  type ArrayFeatureType,
} from "../format/gen/FeatureTypes_pb.js";
import {
  BlockSchema,
  FunctionSchema,
  NamedValueTypeSchema,
  ProgramSchema,
  StateTypeSchema,
  ValueTypeSchema,
  type Function as MILFunction,
  type Operation,
} from "../format/gen/MIL_pb.js";
import {
  FeatureDescriptionSchema,
  FunctionDescriptionSchema,
  type FeatureDescription,
  ModelDescriptionSchema,
  ModelSchema,
  type Model,
} from "../format/gen/Model_pb.js";
import { BlobFileWriter } from "../format/blob/writer.js";
import { floatToHalf } from "../kernels/fp16.js";
import { tempFileScratch } from "../format/io-node.js";
import { DEFAULT_WEIGHT_FILE, MLModel } from "../format/model.js";
import { elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import { makeConstOperation, makeOperation, type InputBinding } from "./ops.js";
import { TARGETS, type Target } from "./targets.js";
import { tensorValueType } from "./types.js";
import { blobFileValue, immediateValue, storesInWeightFile } from "./values.js";

/** A value produced in the program under construction. */
export interface Var {
  readonly name: string;
  readonly dtype: ElementType;
  readonly shape: readonly number[];
}

export interface ConvOptions {
  bias?: Var;
  strides?: number[];
  dilations?: number[];
  /** "valid", "same" or "custom" (with `pad` as [top, bottom, left, right]). */
  padType?: "valid" | "same" | "custom";
  pad?: number[];
  groups?: number;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputShape?: number[];
}

const ARRAY_TYPES: Partial<Record<ElementType, ArrayFeatureType_ArrayDataType>> = {
  fp32: ArrayFeatureType_ArrayDataType.FLOAT32,
  fp16: ArrayFeatureType_ArrayDataType.FLOAT16,
  int32: ArrayFeatureType_ArrayDataType.INT32,
  fp64: ArrayFeatureType_ArrayDataType.DOUBLE,
  int8: ArrayFeatureType_ArrayDataType.INT8,
};

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

export class ProgramBuilder {
  readonly target: Target;
  private readonly operations: Operation[] = [];
  private readonly inputs: Var[] = [];
  private readonly outputs: Var[] = [];
  private readonly states: Var[] = [];
  private readonly used = new Map<string, number>();

  constructor(
    target: Target,
    private readonly weights: BlobFileWriter,
    private readonly weightFileName = DEFAULT_WEIGHT_FILE,
    /** Blob offsets of tensors already written (shared by the builders of one weight file). */
    private readonly written = new WeakMap<Tensor, number>(),
  ) {
    this.target = target;
  }

  /** Writes a tensor to the weight file once: the same tensor object given again shares it. */
  private async blobOffset(tensor: Tensor): Promise<number> {
    let offset = this.written.get(tensor);
    if (offset === undefined) {
      offset = await this.weights.appendTensor(tensor);
      this.written.set(tensor, offset);
    }
    return offset;
  }

  private get specificationVersion(): number {
    return TARGETS[this.target].specificationVersion;
  }

  /** A fresh value name based on `base` (`base`, `base_1`, ...). */
  uniqueName(base: string): string {
    const count = this.used.get(base) ?? 0;
    this.used.set(base, count + 1);
    return count === 0 ? base : `${base}_${count}`;
  }

  input(name: string, dtype: ElementType, shape: number[]): Var {
    const v = { name: this.uniqueName(name), dtype, shape };
    this.inputs.push(v);
    return v;
  }

  /** A state input (iOS18): a tensor kept across predictions, such as a KV cache. */
  stateInput(name: string, dtype: ElementType, shape: number[]): Var {
    const v = { name: this.uniqueName(name), dtype, shape };
    this.states.push(v);
    return v;
  }

  /** The state's current value. */
  readState(state: Var, name = "read_state"): Var {
    return this.op("read_state", name, { input: state.name }, state.dtype, state.shape);
  }

  /** Stores `value` in the state for the ops after it and the next prediction. */
  writeState(state: Var, value: Var, name = "write_state"): void {
    this.operations.push(
      makeOperation(
        "write_state",
        this.uniqueName(name),
        { input: state.name, value: value.name },
        [],
      ),
    );
  }

  /** A constant; stored in the weight file when coremltools would store it there. */
  async constant(name: string, tensor: Tensor): Promise<Var> {
    const outName = this.uniqueName(name);
    const count = elementCount(tensor.shape);
    const value = storesInWeightFile(tensor.dtype, count, this.specificationVersion)
      ? blobFileValue(
          tensor.dtype,
          tensor.shape,
          this.weightFileName,
          await this.blobOffset(tensor),
        )
      : immediateValue(tensor);
    this.operations.push(makeConstOperation(outName, value));
    return { name: outName, dtype: tensor.dtype, shape: tensor.shape };
  }

  /** Small scalar/vector parameters (strides, axes, flags) as named const ops. */
  private param(
    name: string,
    dtype: "int32" | "bool" | "string" | "fp32" | "fp16",
    values: number[] | boolean[] | string[],
    scalar = false,
  ): Var {
    const outName = this.uniqueName(name);
    const shape = scalar ? [] : [values.length];
    const data =
      dtype === "string"
        ? (values as string[])
        : dtype === "bool"
          ? Uint8Array.from(values as boolean[], (b) => (b ? 1 : 0))
          : dtype === "fp32"
            ? Float32Array.from(values as number[])
            : dtype === "fp16"
              ? Uint16Array.from(values as number[], floatToHalf)
              : Int32Array.from(values as number[]);
    this.operations.push(makeConstOperation(outName, immediateValue({ dtype, shape, data })));
    return { name: outName, dtype, shape };
  }

  /** Appends an op with one output of the given type. */
  op(
    type: string,
    name: string,
    inputs: Record<string, InputBinding | InputBinding[]>,
    dtype: ElementType,
    shape: readonly number[],
  ): Var {
    const outName = this.uniqueName(name);
    this.operations.push(makeOperation(type, outName, inputs, [{ name: outName, dtype, shape }]));
    return { name: outName, dtype, shape };
  }

  linear(x: Var, weight: Var, bias?: Var, name = "linear"): Var {
    const shape = [...x.shape.slice(0, -1), weight.shape[0]];
    const inputs: Record<string, string> = { x: x.name, weight: weight.name };
    if (bias) inputs.bias = bias.name;
    return this.op("linear", name, inputs, x.dtype, shape);
  }

  matmul(x: Var, y: Var, transposeX = false, transposeY = false, name = "matmul"): Var {
    const tx = this.param(`${name}_transpose_x`, "bool", [transposeX], true);
    const ty = this.param(`${name}_transpose_y`, "bool", [transposeY], true);
    const xs = [...x.shape];
    const ys = [...y.shape];
    if (xs.length === 1) xs.unshift(1);
    if (ys.length === 1) ys.push(1);
    const [m, kx] = transposeX ? [xs.at(-1)!, xs.at(-2)!] : [xs.at(-2)!, xs.at(-1)!];
    const [ky, n] = transposeY ? [ys.at(-1)!, ys.at(-2)!] : [ys.at(-2)!, ys.at(-1)!];
    if (kx !== ky) throw new Error(`matmul ${name}: inner dimensions ${kx} and ${ky} differ`);
    const batch = broadcast(xs.slice(0, -2), ys.slice(0, -2));
    const shape = [...batch, m, n];
    if (x.shape.length === 1) shape.splice(-2, 1);
    if (y.shape.length === 1) shape.pop();
    return this.op(
      "matmul",
      name,
      { x: x.name, y: y.name, transpose_x: tx.name, transpose_y: ty.name },
      x.dtype,
      shape,
    );
  }

  private convParams(name: string, spatial: number, o: ConvOptions) {
    const strides = o.strides ?? Array(spatial).fill(1);
    const dilations = o.dilations ?? Array(spatial).fill(1);
    const padType = o.padType ?? "valid";
    const pad = o.pad ?? Array(2 * spatial).fill(0);
    const groups = o.groups ?? 1;
    return {
      strides,
      dilations,
      padType,
      pad,
      groups,
      inputs: {
        pad_type: this.param(`${name}_pad_type`, "string", [padType], true).name,
        strides: this.param(`${name}_strides`, "int32", strides).name,
        pad: this.param(`${name}_pad`, "int32", pad).name,
        dilations: this.param(`${name}_dilations`, "int32", dilations).name,
        groups: this.param(`${name}_groups`, "int32", [groups], true).name,
      } as Record<string, string>,
    };
  }

  conv(x: Var, weight: Var, options: ConvOptions = {}, name = "conv"): Var {
    const spatial = x.shape.length - 2;
    const p = this.convParams(name, spatial, options);
    const shape = [x.shape[0], weight.shape[0]];
    for (let i = 0; i < spatial; i++) {
      const size = x.shape[2 + i];
      const kernel = (weight.shape[2 + i] - 1) * p.dilations[i] + 1;
      if (p.padType === "same") shape.push(Math.ceil(size / p.strides[i]));
      else {
        const padded = size + (p.padType === "custom" ? p.pad[2 * i] + p.pad[2 * i + 1] : 0);
        shape.push(Math.floor((padded - kernel) / p.strides[i]) + 1);
      }
    }
    const inputs: Record<string, string> = { x: x.name, weight: weight.name, ...p.inputs };
    if (options.bias) inputs.bias = options.bias.name;
    return this.op("conv", name, inputs, x.dtype, shape);
  }

  convTranspose(
    x: Var,
    weight: Var,
    options: ConvTransposeOptions = {},
    name = "conv_transpose",
  ): Var {
    const spatial = x.shape.length - 2;
    const p = this.convParams(name, spatial, options);
    let shape: number[];
    const inputs: Record<string, string> = { x: x.name, weight: weight.name, ...p.inputs };
    if (options.outputShape) {
      shape = options.outputShape;
      inputs.output_shape = this.param(`${name}_output_shape`, "int32", shape).name;
    } else {
      shape = [x.shape[0], weight.shape[1] * p.groups];
      for (let i = 0; i < spatial; i++) {
        const kernel = (weight.shape[2 + i] - 1) * p.dilations[i] + 1;
        const full = (x.shape[2 + i] - 1) * p.strides[i] + kernel;
        if (p.padType === "same") shape.push(x.shape[2 + i] * p.strides[i]);
        else shape.push(full - (p.padType === "custom" ? p.pad[2 * i] + p.pad[2 * i + 1] : 0));
      }
    }
    if (options.bias) inputs.bias = options.bias.name;
    return this.op("conv_transpose", name, inputs, x.dtype, shape);
  }

  /** Embedding lookup: rows of `table` picked by `indices` along `axis`. */
  gather(table: Var, indices: Var, axis = 0, name = "gather"): Var {
    const a = axis < 0 ? axis + table.shape.length : axis;
    const shape = [...table.shape.slice(0, a), ...indices.shape, ...table.shape.slice(a + 1)];
    const axisVar = this.param(`${name}_axis`, "int32", [axis], true);
    const batchDims = this.param(`${name}_batch_dims`, "int32", [0], true);
    return this.op(
      "gather",
      name,
      { x: table.name, indices: indices.name, axis: axisVar.name, batch_dims: batchDims.name },
      table.dtype,
      shape,
    );
  }

  /** Elementwise ops with one input: relu, sigmoid, tanh, silu, exp, sqrt, ... */
  unary(type: string, x: Var, name = type): Var {
    return this.op(type, name, { x: x.name }, x.dtype, x.shape);
  }

  gelu(x: Var, mode: "EXACT" | "TANH_APPROXIMATION" = "EXACT", name = "gelu"): Var {
    const modeVar = this.param(`${name}_mode`, "string", [mode], true);
    return this.op("gelu", name, { x: x.name, mode: modeVar.name }, x.dtype, x.shape);
  }

  softmax(x: Var, axis = -1, name = "softmax"): Var {
    const axisVar = this.param(`${name}_axis`, "int32", [axis], true);
    return this.op("softmax", name, { x: x.name, axis: axisVar.name }, x.dtype, x.shape);
  }

  /** Elementwise binary ops with broadcasting: add, sub, mul, real_div, maximum, ... */
  binary(type: string, x: Var, y: Var, name = type): Var {
    return this.op(type, name, { x: x.name, y: y.name }, x.dtype, broadcast(x.shape, y.shape));
  }

  layerNorm(x: Var, gamma: Var, beta: Var, epsilon = 1e-5, name = "layer_norm"): Var {
    const axes = this.param(`${name}_axes`, "int32", [-1]);
    const eps = this.param(
      `${name}_epsilon`,
      x.dtype === "fp16" ? "fp16" : "fp32",
      [epsilon],
      true,
    );
    return this.op(
      "layer_norm",
      name,
      { x: x.name, axes: axes.name, gamma: gamma.name, beta: beta.name, epsilon: eps.name },
      x.dtype,
      x.shape,
    );
  }

  reshape(x: Var, shape: number[], name = "reshape"): Var {
    const shapeVar = this.param(`${name}_shape`, "int32", shape);
    return this.op("reshape", name, { x: x.name, shape: shapeVar.name }, x.dtype, shape);
  }

  transpose(x: Var, perm: number[], name = "transpose"): Var {
    const permVar = this.param(`${name}_perm`, "int32", perm);
    const shape = perm.map((p) => x.shape[p]);
    return this.op("transpose", name, { x: x.name, perm: permVar.name }, x.dtype, shape);
  }

  reduceMean(x: Var, axes: number[], keepDims = false, name = "reduce_mean"): Var {
    const axesVar = this.param(`${name}_axes`, "int32", axes);
    const keep = this.param(`${name}_keep_dims`, "bool", [keepDims], true);
    const rank = x.shape.length;
    const reduced = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
    const shape = x.shape.flatMap((d, i) => (reduced.has(i) ? (keepDims ? [1] : []) : [d]));
    return this.op(
      "reduce_mean",
      name,
      { x: x.name, axes: axesVar.name, keep_dims: keep.name },
      x.dtype,
      shape,
    );
  }

  cast(x: Var, dtype: "fp16" | "fp32" | "int32", name = "cast"): Var {
    const dtypeVar = this.param(`${name}_dtype`, "string", [dtype], true);
    return this.op("cast", name, { x: x.name, dtype: dtypeVar.name }, dtype, x.shape);
  }

  output(v: Var): void {
    this.outputs.push(v);
  }

  /** The function built so far, with its feature descriptions. */
  buildFunction(): {
    fn: MILFunction;
    input: FeatureDescription[];
    output: FeatureDescription[];
    state: FeatureDescription[];
  } {
    const { opset } = TARGETS[this.target];
    const feature = (v: Var) =>
      create(FeatureDescriptionSchema, {
        name: v.name,
        type: create(FeatureTypeSchema, {
          Type: {
            case: "multiArrayType",
            value: {
              shape: v.shape.map(BigInt),
              dataType: ARRAY_TYPES[v.dtype] ?? ArrayFeatureType_ArrayDataType.FLOAT32,
            },
          },
        }),
      });
    const block = create(BlockSchema, {
      outputs: this.outputs.map((o) => o.name),
      operations: this.operations,
    });
    const stateType = (v: Var) =>
      create(ValueTypeSchema, {
        type: {
          case: "stateType",
          value: create(StateTypeSchema, { wrappedType: tensorValueType(v.dtype, v.shape) }),
        },
      });
    const stateFeature = (v: Var) => {
      const array = feature(v).type!.Type;
      return create(FeatureDescriptionSchema, {
        name: v.name,
        type: create(FeatureTypeSchema, {
          Type: {
            case: "stateType",
            value: create(StateFeatureTypeSchema, {
              Type: { case: "arrayType", value: array.value as ArrayFeatureType },
            }),
          },
        }),
      });
    };
    const fn = create(FunctionSchema, {
      inputs: [
        ...this.inputs.map((i) =>
          create(NamedValueTypeSchema, { name: i.name, type: tensorValueType(i.dtype, i.shape) }),
        ),
        ...this.states.map((v) =>
          create(NamedValueTypeSchema, { name: v.name, type: stateType(v) }),
        ),
      ],
      opset,
      blockSpecializations: { [opset]: block },
    });
    return {
      fn,
      input: this.inputs.map(feature),
      output: this.outputs.map(feature),
      state: this.states.map(stateFeature),
    };
  }

  /** The finished model specification (weights must be finished by the caller). */
  build(): Model {
    const { fn, input, output, state } = this.buildFunction();
    return create(ModelSchema, {
      specificationVersion: TARGETS[this.target].specificationVersion,
      description: create(ModelDescriptionSchema, { input, output, state }),
      Type: {
        case: "mlProgram",
        value: create(ProgramSchema, { version: 1n, functions: { main: fn } }),
      },
    });
  }
}

/**
 * Builds a multifunction ML program (iOS18+), one `define` per function, over one weight file:
 * a tensor object given to several functions' `constant` is stored once and shared. The first
 * function is the default unless `defaultFunction` says otherwise.
 */
export async function buildMultifunctionModel(
  target: Target,
  functions: Record<string, (builder: ProgramBuilder) => Promise<void>>,
  options: { defaultFunction?: string; tempDir?: string } = {},
): Promise<MLModel> {
  const file = await tempFileScratch(options.tempDir).create();
  const writer = await BlobFileWriter.create(file.writer);
  try {
    const written = new WeakMap<Tensor, number>();
    const built: Record<string, ReturnType<ProgramBuilder["buildFunction"]>> = {};
    for (const [name, define] of Object.entries(functions)) {
      const builder = new ProgramBuilder(target, writer, DEFAULT_WEIGHT_FILE, written);
      await define(builder);
      built[name] = builder.buildFunction();
    }
    await writer.finish();
    const defaultFunction = options.defaultFunction ?? Object.keys(functions)[0];
    const spec = create(ModelSchema, {
      specificationVersion: TARGETS[target].specificationVersion,
      description: create(ModelDescriptionSchema, {
        input: built[defaultFunction].input,
        output: built[defaultFunction].output,
        state: built[defaultFunction].state,
        functions: Object.entries(built).map(([name, { input, output, state }]) =>
          create(FunctionDescriptionSchema, { name, input, output, state }),
        ),
        defaultFunctionName: defaultFunction,
      }),
      Type: {
        case: "mlProgram",
        value: create(ProgramSchema, {
          version: 1n,
          functions: Object.fromEntries(Object.entries(built).map(([name, { fn }]) => [name, fn])),
        }),
      },
    });
    return new MLModel(spec, new Map([[DEFAULT_WEIGHT_FILE, file.source]]));
  } catch (error) {
    await writer.finish().catch(() => undefined);
    await file.source.discard?.();
    throw error;
  }
}

/**
 * Builds an ML program with `define` and returns it as a model whose weights sit in a
 * temporary file until it is saved.
 */
export async function buildModel(
  target: Target,
  define: (builder: ProgramBuilder) => Promise<void>,
  tempDir?: string,
): Promise<MLModel> {
  const file = await tempFileScratch(tempDir).create();
  const writer = await BlobFileWriter.create(file.writer);
  try {
    const builder = new ProgramBuilder(target, writer);
    await define(builder);
    await writer.finish();
    return new MLModel(builder.build(), new Map([[DEFAULT_WEIGHT_FILE, file.source]]));
  } catch (error) {
    await writer.finish().catch(() => undefined);
    await file.source.discard?.();
    throw error;
  }
}
