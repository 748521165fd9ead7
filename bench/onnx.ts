/**
 * The ML programs of the inference benchmark as ONNX models, from the same weights: a minimal
 * ONNX protobuf encoder (the few messages and fields a graph of plain ops needs, written with
 * protobuf-es' BinaryWriter) and a converter for the ops those programs use (convolutions,
 * clips and ReLUs, pooling, linear layers, the transformer ops). Opset 17, fp32.
 */
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Operation, Value } from "../src/format/gen/MIL_pb.js";
import type { MLModel } from "../src/format/model.js";
import type { Tensor } from "../src/kernels/dtype.js";
import { opName } from "../src/program/ops.js";
import { tensorTypeInfo } from "../src/program/types.js";
import { readTensorValue } from "../src/program/values.js";

// onnx.proto's field numbers and enums.
const MODEL = { irVersion: 1, producerName: 2, graph: 7, opsetImport: 8 };
const OPSET = { domain: 1, version: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, ints: 8, type: 20 };
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 };
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensorType: 1 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE = { dim: 1 };
const DIMENSION = { value: 1 };
const DATA_TYPES = { fp32: 1, int32: 6, int64: 7, bool: 9 } as const;
type OnnxType = keyof typeof DATA_TYPES;

const IR_VERSION = 8;
const OPSET_VERSION = 17;

type Attribute = number | number[] | string | { float: number };

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, Attribute>;
}

interface Initializer {
  name: string;
  dtype: OnnxType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

interface GraphValue {
  name: string;
  dtype: OnnxType;
  shape: readonly number[];
}

function writeAttribute(w: BinaryWriter, name: string, value: Attribute): void {
  w.tag(NODE.attribute, WireType.LengthDelimited).fork();
  w.tag(ATTRIBUTE.name, WireType.LengthDelimited).string(name);
  if (typeof value === "number") {
    w.tag(ATTRIBUTE.i, WireType.Varint).int64(value);
    w.tag(ATTRIBUTE.type, WireType.Varint).int32(ATTRIBUTE_TYPE.int);
  } else if (typeof value === "string") {
    w.tag(ATTRIBUTE.s, WireType.LengthDelimited).bytes(new TextEncoder().encode(value));
    w.tag(ATTRIBUTE.type, WireType.Varint).int32(ATTRIBUTE_TYPE.string);
  } else if (Array.isArray(value)) {
    w.tag(ATTRIBUTE.ints, WireType.LengthDelimited).fork();
    for (const v of value) w.int64(v);
    w.join();
    w.tag(ATTRIBUTE.type, WireType.Varint).int32(ATTRIBUTE_TYPE.ints);
  } else {
    w.tag(ATTRIBUTE.f, WireType.Bit32).float(value.float);
    w.tag(ATTRIBUTE.type, WireType.Varint).int32(ATTRIBUTE_TYPE.float);
  }
  w.join();
}

function rawBytes({ dtype, data }: Initializer): Uint8Array {
  switch (dtype) {
    case "fp32":
      return new Uint8Array(Float32Array.from(data).buffer);
    case "int32":
      return new Uint8Array(Int32Array.from(data).buffer);
    case "int64":
      return new Uint8Array(BigInt64Array.from(Array.from(data), (v) => BigInt(v)).buffer);
    case "bool":
      return Uint8Array.from(data, (v) => (v ? 1 : 0));
  }
}

function writeValueInfo(w: BinaryWriter, field: number, value: GraphValue): void {
  w.tag(field, WireType.LengthDelimited).fork();
  w.tag(VALUE_INFO.name, WireType.LengthDelimited).string(value.name);
  w.tag(VALUE_INFO.type, WireType.LengthDelimited).fork();
  w.tag(TYPE.tensorType, WireType.LengthDelimited).fork();
  w.tag(TENSOR_TYPE.elemType, WireType.Varint).int32(DATA_TYPES[value.dtype]);
  w.tag(TENSOR_TYPE.shape, WireType.LengthDelimited).fork();
  for (const d of value.shape) {
    w.tag(SHAPE.dim, WireType.LengthDelimited).fork();
    w.tag(DIMENSION.value, WireType.Varint).int64(d);
    w.join();
  }
  w.join().join().join().join();
}

/** The bytes of an ONNX model holding one graph. */
export function encodeOnnxModel(graph: {
  nodes: Node[];
  initializers: Initializer[];
  inputs: GraphValue[];
  outputs: GraphValue[];
}): Uint8Array {
  const w = new BinaryWriter();
  w.tag(MODEL.irVersion, WireType.Varint).int64(IR_VERSION);
  w.tag(MODEL.producerName, WireType.LengthDelimited).string("coreml-optimize bench");
  w.tag(MODEL.opsetImport, WireType.LengthDelimited).fork();
  w.tag(OPSET.domain, WireType.LengthDelimited).string("");
  w.tag(OPSET.version, WireType.Varint).int64(OPSET_VERSION);
  w.join();
  w.tag(MODEL.graph, WireType.LengthDelimited).fork();
  graph.nodes.forEach((node, index) => {
    w.tag(GRAPH.node, WireType.LengthDelimited).fork();
    for (const input of node.inputs) w.tag(NODE.input, WireType.LengthDelimited).string(input);
    for (const output of node.outputs) w.tag(NODE.output, WireType.LengthDelimited).string(output);
    w.tag(NODE.name, WireType.LengthDelimited).string(`${node.op}_${index}`);
    w.tag(NODE.opType, WireType.LengthDelimited).string(node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {}))
      writeAttribute(w, name, value);
    w.join();
  });
  w.tag(GRAPH.name, WireType.LengthDelimited).string("main");
  for (const init of graph.initializers) {
    w.tag(GRAPH.initializer, WireType.LengthDelimited).fork();
    w.tag(TENSOR.dims, WireType.LengthDelimited).fork();
    for (const d of init.shape) w.int64(d);
    w.join();
    w.tag(TENSOR.dataType, WireType.Varint).int32(DATA_TYPES[init.dtype]);
    w.tag(TENSOR.name, WireType.LengthDelimited).string(init.name);
    w.tag(TENSOR.rawData, WireType.LengthDelimited).bytes(rawBytes(init));
    w.join();
  }
  for (const input of graph.inputs) writeValueInfo(w, GRAPH.input, input);
  for (const output of graph.outputs) writeValueInfo(w, GRAPH.output, output);
  w.join();
  return w.finish();
}

/** What an op converter sees: its inputs, by name or as constant values. */
class OpInputs {
  constructor(
    private readonly op: Operation,
    private readonly constants: Map<string, Tensor>,
    private readonly graphName: (constant: string, dtype: OnnxType) => string,
    private readonly declared: Map<string, GraphValue>,
    private readonly literals: Map<Value, Tensor>,
  ) {}

  /** The rank of the value bound to an input. */
  rank(input: string): number {
    const name = this.binding(input);
    const rank = this.constants.get(name)?.shape.length ?? this.declared.get(name)?.shape.length;
    if (rank === undefined) throw new Error(`${this.label}: the rank of ${input} is unknown`);
    return rank;
  }

  private binding(input: string): string {
    const argument = this.op.inputs[input]?.arguments[0]?.binding;
    if (argument?.case !== "name") throw new Error(`${this.label}: input ${input} is not a name`);
    return argument.value;
  }

  private literal(input: string): Tensor | undefined {
    const argument = this.op.inputs[input]?.arguments[0]?.binding;
    return argument?.case === "value" ? this.literals.get(argument.value) : undefined;
  }

  get label(): string {
    return `op ${this.op.type} "${opName(this.op)}"`;
  }

  has(input: string): boolean {
    return (this.op.inputs[input]?.arguments.length ?? 0) > 0;
  }

  /** The graph value bound to an input (constants become initializers of `dtype`). */
  value(input: string, dtype: OnnxType = "fp32"): string {
    const name = this.binding(input);
    return this.constants.has(name) ? this.graphName(name, dtype) : name;
  }

  constant(input: string): Tensor {
    const tensor = this.literal(input) ?? this.constants.get(this.binding(input));
    if (!tensor) throw new Error(`${this.label}: input ${input} is not a constant`);
    return tensor;
  }

  numbers(input: string): number[] {
    return Array.from(this.constant(input).data as ArrayLike<number>, Number);
  }

  number(input: string, fallback?: number): number {
    if (!this.has(input) && fallback !== undefined) return fallback;
    return this.numbers(input)[0];
  }

  string(input: string, fallback: string): string {
    return this.has(input) ? (this.constant(input).data as string[])[0] : fallback;
  }
}

/** Converts one MIL op to ONNX nodes (`temp` names intermediate values). */
type Converter = (
  x: OpInputs,
  outputs: string[],
  temp: (base: string) => string,
  int64: (values: number[]) => string,
) => Node[];

const SQRT2 = { float: Math.SQRT2 };

const CONVERTERS: Record<string, Converter> = {
  conv: (x, [y]) => {
    const pad = x.numbers("pad");
    const padType = x.string("pad_type", "valid");
    const attributes: Record<string, Attribute> = {
      strides: x.numbers("strides"),
      dilations: x.numbers("dilations"),
      group: x.number("groups", 1),
    };
    if (padType === "same") attributes.auto_pad = "SAME_UPPER";
    else attributes.pads = padType === "custom" ? [pad[0], pad[2], pad[1], pad[3]] : [0, 0, 0, 0];
    const inputs = [x.value("x"), x.value("weight")];
    if (x.has("bias")) inputs.push(x.value("bias"));
    return [{ op: "Conv", inputs, outputs: [y], attributes }];
  },
  max_pool: (x, [y]) => {
    const pad = x.numbers("pad");
    return [
      {
        op: "MaxPool",
        inputs: [x.value("x")],
        outputs: [y],
        attributes: {
          kernel_shape: x.numbers("kernel_sizes"),
          strides: x.numbers("strides"),
          pads: [pad[0], pad[2], pad[1], pad[3]],
        },
      },
    ];
  },
  clip: (x, [y]) => [
    { op: "Clip", inputs: [x.value("x"), x.value("alpha"), x.value("beta")], outputs: [y] },
  ],
  relu: (x, [y]) => [{ op: "Relu", inputs: [x.value("x")], outputs: [y] }],
  add: (x, [y]) => [{ op: "Add", inputs: [x.value("x"), x.value("y")], outputs: [y] }],
  mul: (x, [y]) => [{ op: "Mul", inputs: [x.value("x"), x.value("y")], outputs: [y] }],
  reduce_mean: (x, [y]) => [
    {
      op: "ReduceMean",
      inputs: [x.value("x")],
      outputs: [y],
      attributes: { axes: x.numbers("axes"), keepdims: x.number("keep_dims", 0) },
    },
  ],
  reshape: (x, [y], _, int64) => [
    { op: "Reshape", inputs: [x.value("x"), int64(x.numbers("shape"))], outputs: [y] },
  ],
  transpose: (x, [y]) => [
    {
      op: "Transpose",
      inputs: [x.value("x")],
      outputs: [y],
      attributes: { perm: x.numbers("perm") },
    },
  ],
  squeeze: (x, [y], _, int64) => [
    { op: "Squeeze", inputs: [x.value("x"), int64(x.numbers("axes"))], outputs: [y] },
  ],
  split: (x, outputs, _, int64) => [
    {
      op: "Split",
      inputs: [x.value("x"), int64(x.numbers("split_sizes"))],
      outputs,
      attributes: { axis: x.number("axis") },
    },
  ],
  softmax: (x, [y]) => [
    { op: "Softmax", inputs: [x.value("x")], outputs: [y], attributes: { axis: x.number("axis") } },
  ],
  // Weights are [out, in]: the product with their transpose, then the bias.
  linear: (x, [y], temp) => {
    const product = x.has("bias") ? temp("product") : y;
    const nodes: Node[] = [
      { op: "MatMul", inputs: [x.value("x"), x.value("weight")], outputs: [product] },
    ];
    if (x.has("bias")) nodes.push({ op: "Add", inputs: [product, x.value("bias")], outputs: [y] });
    return nodes;
  },
  matmul: (x, [y], temp) => {
    const operand = (input: string, transposed: boolean): [string, Node[]] => {
      if (!transposed) return [x.value(input), []];
      const name = temp(`${input}_t`);
      const perm = Array.from({ length: x.rank(input) }, (_, i) => i);
      perm.push(...perm.splice(-2).reverse());
      return [
        name,
        [{ op: "Transpose", inputs: [x.value(input)], outputs: [name], attributes: { perm } }],
      ];
    };
    const [a, first] = operand("x", x.number("transpose_x", 0) !== 0);
    const [b, second] = operand("y", x.number("transpose_y", 0) !== 0);
    return [...first, ...second, { op: "MatMul", inputs: [a, b], outputs: [y] }];
  },
  // x·(1 + erf(x/√2))/2, the exact GELU.
  gelu: (x, [y], temp) => {
    if (x.string("mode", "EXACT") !== "EXACT") throw new Error(`${x.label}: only EXACT`);
    const [scaled, erf, plus, half] = ["scaled", "erf", "plus", "half"].map(temp);
    const [root, one, oneHalf] = ["sqrt2", "one", "one_half"].map(temp);
    return [
      { op: "Constant", inputs: [], outputs: [root], attributes: { value_float: SQRT2 } },
      { op: "Constant", inputs: [], outputs: [one], attributes: { value_float: { float: 1 } } },
      {
        op: "Constant",
        inputs: [],
        outputs: [oneHalf],
        attributes: { value_float: { float: 0.5 } },
      },
      { op: "Div", inputs: [x.value("x"), root], outputs: [scaled] },
      { op: "Erf", inputs: [scaled], outputs: [erf] },
      { op: "Add", inputs: [erf, one], outputs: [plus] },
      { op: "Mul", inputs: [x.value("x"), plus], outputs: [half] },
      { op: "Mul", inputs: [half, oneHalf], outputs: [y] },
    ];
  },
  layer_norm: (x, [y]) => [
    {
      op: "LayerNormalization",
      inputs: [x.value("x"), x.value("gamma"), x.value("beta")],
      outputs: [y],
      attributes: { axis: x.numbers("axes")[0], epsilon: { float: x.number("epsilon", 1e-5) } },
    },
  ],
  greater_equal: (x, [y]) => [
    {
      op: "GreaterOrEqual",
      inputs: [x.value("x", "int32"), x.value("y", "int32")],
      outputs: [y],
    },
  ],
  select: (x, [y]) => [
    {
      op: "Where",
      inputs: [x.value("cond", "bool"), x.value("a"), x.value("b")],
      outputs: [y],
    },
  ],
  gather: (x, [y]) => [
    {
      op: "Gather",
      inputs: [x.value("x"), x.value("indices", "int32")],
      outputs: [y],
      attributes: { axis: x.number("axis", 0) },
    },
  ],
};

/** The dtype an initializer takes by default: the constant's own, as ONNX names it. */
function onnxType(tensor: Tensor, requested: OnnxType): OnnxType {
  if (tensor.dtype === "int32" || tensor.dtype === "bool") return tensor.dtype;
  return requested;
}

/** An fp32 ML program's main function as an ONNX model (the ops of the benchmark's networks). */
export async function programToOnnx(model: MLModel): Promise<Uint8Array> {
  const spec = model.spec.Type;
  if (spec.case !== "mlProgram") throw new Error("not an ML program");
  const fn = spec.value.functions["main"];
  const block = Object.values(fn.blockSpecializations)[0];
  const constants = new Map<string, Tensor>();
  const initializers: Initializer[] = [];
  const emitted = new Map<string, string>();
  let temps = 0;
  const temp = (base: string) => `${base}__${temps++}`;
  const graphName = (constant: string, dtype: OnnxType): string => {
    const tensor = constants.get(constant)!;
    const type = onnxType(tensor, dtype);
    const key = `${constant}:${type}`;
    let name = emitted.get(key);
    if (!name) {
      name = temp(constant);
      initializers.push({
        name,
        dtype: type,
        shape: tensor.shape,
        data: tensor.data as ArrayLike<number>,
      });
      emitted.set(key, name);
    }
    return name;
  };
  const int64 = (values: number[]) => {
    const name = temp("ints");
    initializers.push({ name, dtype: "int64", shape: [values.length], data: values });
    return name;
  };
  const declared = new Map<string, GraphValue>();
  const declare = (name: string, type: Parameters<typeof tensorTypeInfo>[0]) => {
    const info = tensorTypeInfo(type)!;
    const dtype = info.dtype === "int32" ? "int32" : info.dtype === "bool" ? "bool" : "fp32";
    declared.set(name, { name, dtype, shape: info.shape.map((d) => d ?? 1) });
  };
  for (const input of fn.inputs) declare(input.name, input.type);
  for (const op of block.operations) for (const o of op.outputs) declare(o.name, o.type);
  const literals = new Map<Value, Tensor>();
  for (const op of block.operations) {
    for (const argument of Object.values(op.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case === "value") {
          literals.set(binding.value, await readTensorValue(binding.value, model, opName(op)));
        }
      }
    }
  }
  const transposed = new Set<string>();
  const nodes: Node[] = [];
  for (const op of block.operations) {
    if (op.type === "const") {
      const tensor = await readTensorValue(op.attributes["val"], model, opName(op));
      constants.set(op.outputs[0].name, tensor);
      continue;
    }
    const convert = CONVERTERS[op.type];
    if (!convert) throw new Error(`the ONNX converter has no op ${op.type}`);
    const inputs = new OpInputs(op, constants, graphName, declared, literals);
    // Linear weights are [out, in]; ONNX's MatMul takes [in, out].
    if (op.type === "linear") transposeLinearWeight(op, constants, transposed);
    nodes.push(
      ...convert(
        inputs,
        op.outputs.map((o) => o.name),
        temp,
        int64,
      ),
    );
  }
  return encodeOnnxModel({
    nodes,
    initializers,
    inputs: fn.inputs.map((i) => declared.get(i.name)!),
    outputs: block.outputs.map((name) => declared.get(name)!),
  });
}

/** Replaces a linear op's [out, in] weight constant by its transpose, for ONNX's MatMul. */
function transposeLinearWeight(
  op: Operation,
  constants: Map<string, Tensor>,
  transposed: Set<string>,
): void {
  const binding = op.inputs["weight"].arguments[0].binding;
  if (binding.case !== "name" || !constants.has(binding.value)) {
    throw new Error(`op linear "${opName(op)}": the weight is not a constant`);
  }
  if (transposed.has(binding.value)) return;
  transposed.add(binding.value);
  const weight = constants.get(binding.value)!;
  const [rows, cols] = weight.shape;
  const data = weight.data as Float32Array;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  constants.set(binding.value, { dtype: "fp32", shape: [cols, rows], data: out });
}
