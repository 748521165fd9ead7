/**
 * Activation quantization (coremltools' `linear_quantize_activations`, iOS17+): run sample
 * inputs through the program, record each activation's range, then wrap the activations of
 * quantizable ops in `quantize` → `dequantize` pairs (8-bit), so a runtime can compute those
 * ops on integers. Combined with 8-bit weight quantization this gives W8A8 models.
 *
 * Where pairs go, as coremltools places them:
 * - before: the `x` input of conv, linear, avg_pool and max_pool, and both inputs of add (when
 *   none of them is a const), one pair per consuming op;
 * - after: the output of such an op whose input now comes from a dequantize (and, for add, both
 *   inputs do), or of the activation (relu, relu6, leaky_relu, sigmoid, hard_sigmoid, tanh,
 *   scaled_tanh) that directly follows it, unless a pair is already there or nothing reads it;
 * - a dequantize directly followed by a quantize with the same parameters is then redundant,
 *   and the quantize is removed.
 * Ranges are rounded to fp16 before the scale is computed (as coremltools does); inputs and
 * outputs of a concat share one range.
 */
import { clone } from "@bufbuild/protobuf";
import type { ProgressCallback } from "../progress.js";
import {
  ValueTypeSchema,
  type Block,
  type Operation,
  type Program,
  type ValueType,
} from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import type { Tensor } from "../kernels/dtype.js";
import { floatToHalf, roundToHalf } from "../kernels/fp16.js";
import {
  configForOp,
  expectConfigKinds,
  type OptimizationConfig,
} from "../config/optimization-config.js";
import { LINEAR_QUANTIZER, type OpLinearQuantizerConfig } from "../config/linear-quantizer.js";
import {
  ACTIVATION_QUANTIZER,
  type OpActivationLinearQuantizerConfig,
} from "../config/activation-quantizer.js";

/** Activation configs: coremltools' own kind, or a linear quantizer config's mode and dtype. */
export type ActivationConfig = OpActivationLinearQuantizerConfig | OpLinearQuantizerConfig;
import { inputNames, makeConstOperation, makeOperation, opName } from "../program/ops.js";
import { requireTarget, raiseTarget, type Target } from "../program/targets.js";
import { dataTypeOf, tensorTypeInfo } from "../program/types.js";
import { immediateValue, stringValue } from "../program/values.js";
import { Interpreter, type LoadOptions } from "../runtime/interpreter.js";
import { rewriteWeights } from "../program/rewriter.js";
import { roundHalfEven } from "../kernels/rounding.js";

const PASS = "linear_quantize_activations";
const FP16_MIN_NORMAL = 2 ** -14;
const UNARY_OPS = new Set(["conv", "avg_pool", "max_pool", "linear"]);
const QUANTIZED_OPS = new Set([...UNARY_OPS, "add"]);
const FOLLOWING_ACTIVATIONS = new Set([
  "leaky_relu",
  "tanh",
  "scaled_tanh",
  "sigmoid",
  "hard_sigmoid",
  "relu",
  "relu6",
]);

/** The observed range of one activation. */
export interface ActivationRange {
  min: number;
  max: number;
}

export interface ActivationQuantizeOptions extends LoadOptions {
  /** Raise older models to this target first (activation quantization needs iOS17). */
  raiseTarget?: Target;
  /** Called after each sample has run. */
  onProgress?: ProgressCallback;
}

export interface ActivationQuantizeResult {
  model: MLModel;
  /** The quantize → dequantize pairs inserted, by the activation they quantize. */
  pairs: { activation: string; scale: number; zeroPoint: number; dtype: "int8" | "uint8" }[];
  /** Ranges observed over the samples, by value name (after concat ranges are shared). */
  ranges: Map<string, ActivationRange>;
}

/**
 * Runs `samples` through the model and records the range of every op output and input; memory
 * holds only the ranges (the interpreter reports each value as it is produced).
 */
export async function collectActivationRanges(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: ActivationQuantizeOptions = {},
): Promise<Map<string, ActivationRange>> {
  const interpreter = await Interpreter.load(model, options);
  const ranges = new Map<string, ActivationRange>();
  const record = (name: string, data: ArrayLike<number>) => {
    if (data.length === 0) return;
    let { min, max } = ranges.get(name) ?? { min: Infinity, max: -Infinity };
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges.set(name, { min, max });
  };
  samples.forEach((sample, index) => {
    for (const input of interpreter.inputs) {
      const tensor = sample[input.name];
      if (tensor && typeof tensor.data[0] !== "string" && typeof tensor.data[0] !== "bigint") {
        record(input.name, tensor.data as ArrayLike<number>);
      }
    }
    interpreter.predict(sample, { observe: (name, value) => record(name, value.data) });
    options.onProgress?.({ done: index + 1, total: samples.length, name: `sample ${index + 2}` });
  });
  return ranges;
}

/** Gives the inputs and output of every concat (transitively) one shared range. */
function shareConcatRanges(block: Block, ranges: Map<string, ActivationRange>): void {
  const parent = new Map<string, string>();
  const find = (name: string): string => {
    let root = name;
    while (parent.has(root)) root = parent.get(root)!;
    return root;
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };
  const members = new Set<string>();
  for (const op of block.operations) {
    if (op.type !== "concat") continue;
    const names = [...inputNames(op, "values"), op.outputs[0].name];
    names.forEach((n) => members.add(n));
    for (const n of names.slice(1)) union(names[0], n);
  }
  const shared = new Map<string, ActivationRange>();
  for (const name of members) {
    const range = ranges.get(name);
    if (!range) continue;
    const root = find(name);
    const group = shared.get(root) ?? { min: Infinity, max: -Infinity };
    shared.set(root, { min: Math.min(group.min, range.min), max: Math.max(group.max, range.max) });
  }
  for (const name of members) {
    if (ranges.has(name)) ranges.set(name, shared.get(find(name))!);
  }
}

export interface QuantizationParameters {
  scale: number;
  /** undefined when it is 0 (the ops' default). */
  zeroPoint: number | undefined;
  dtype: "int8" | "uint8";
}

/**
 * Scale and zero point for a range, computed as coremltools does: on the range rounded to
 * fp16, with fp16 arithmetic. Symmetric int8 uses [-127, 127]; symmetric uint8 [0, 254] around
 * 127; affine ("linear") the full range, widened to include 0. A zero scale becomes 1.
 *
 * One deliberate difference: for fp32 activations whose range lies below fp16's normal numbers
 * (|x| < 2^-14), fp16 rounding would leave a scale of 0 or a few subnormal steps (coremltools
 * then fails or quantizes everything to 0), so those scales are computed in fp32.
 */
export function activationQuantization(
  range: ActivationRange,
  config: Pick<ActivationConfig, "mode" | "dtype">,
  activationType: "fp16" | "fp32" = "fp16",
): QuantizationParameters {
  const dtype = config.dtype === "uint8" ? "uint8" : "int8";
  const signed = dtype === "int8";
  const symmetric = config.mode === "linear_symmetric";
  let [qmin, qmax] = signed ? [-128, 127] : [0, 255];
  if (symmetric) {
    if (signed) qmin += 1;
    else qmax -= 1;
  }
  const tiny = Math.max(Math.abs(range.min), Math.abs(range.max)) < FP16_MIN_NORMAL;
  const h = activationType === "fp32" && tiny ? Math.fround : roundToHalf;
  let low = h(range.min);
  let high = h(range.max);
  let zeroPoint: number | undefined;
  if (symmetric) {
    high = Math.max(Math.abs(low), Math.abs(high));
    low = -high;
    if (!signed) zeroPoint = Math.floor(qmax / 2);
  } else {
    low = Math.min(0, low);
    high = Math.max(0, high);
  }
  const width = h(high - low);
  let scale = h(width / (qmax - qmin));
  if (!symmetric) {
    const shifted = h(h(qmin * high) - h(qmax * low));
    const raw = width === 0 ? 0 : roundHalfEven(h(shifted / width));
    zeroPoint = Math.min(qmax, Math.max(qmin, raw));
  }
  if (scale === 0 || !Number.isFinite(scale)) scale = 1;
  return { scale, zeroPoint: zeroPoint === 0 ? undefined : zeroPoint, dtype };
}

/** One function block being rewritten, with what the rules need to know of it. */
class BlockEditor {
  private counter = 0;
  /** Quantize ops inserted before a consumer: pymil lists them after a value's other readers. */
  readonly prefixQuantizes = new Set<Operation>();
  readonly visited = new Set<Operation>();
  /** Const ops this pass made (removable once unread). */
  readonly created = new Set<Operation>();
  /** dtype, scale and zero point of the quantize/dequantize ops this pass made. */
  readonly parameters = new Map<Operation, QuantizationParameters>();

  constructor(
    readonly block: Block,
    private readonly types: Map<string, ValueType | undefined>,
  ) {}

  typeOf(name: string): ValueType | undefined {
    return this.types.get(name);
  }

  producer(name: string): Operation | undefined {
    return this.block.operations.find((op) => op.outputs.some((o) => o.name === name));
  }

  /** Ops reading `name`, in the order pymil keeps them (see `prefixQuantizes`). */
  readers(name: string): Operation[] {
    const ops = this.block.operations.filter((op) =>
      Object.values(op.inputs).some((a) =>
        a.arguments.some((b) => b.binding.case === "name" && b.binding.value === name),
      ),
    );
    return [
      ...ops.filter((op) => !this.prefixQuantizes.has(op)),
      ...ops.filter((op) => this.prefixQuantizes.has(op)),
    ];
  }

  isConst(name: string): boolean {
    return this.producer(name)?.type === "const";
  }

  /** Builds const + quantize + dequantize ops for `input`; returns them and the dequantized name. */
  pair(input: string, base: string, q: QuantizationParameters, output?: string): Operation[] {
    const type = this.types.get(input);
    const info = tensorTypeInfo(type);
    if (!type || !info || (info.dtype !== "fp32" && info.dtype !== "fp16")) {
      throw new UnsupportedError(`${PASS}: value "${input}" is not a float tensor`);
    }
    const id = `${base}_${this.counter++}`;
    const scaleTensor: Tensor =
      info.dtype === "fp16"
        ? { dtype: "fp16", shape: [], data: Uint16Array.of(floatToHalf(q.scale)) }
        : { dtype: "fp32", shape: [], data: Float32Array.of(q.scale) };
    const ops: Operation[] = [makeConstOperation(`${id}_scale`, immediateValue(scaleTensor))];
    const parameters: Record<string, string> = { scale: `${id}_scale` };
    if (q.zeroPoint !== undefined) {
      const data = q.dtype === "int8" ? Int8Array.of(q.zeroPoint) : Uint8Array.of(q.zeroPoint);
      ops.push(
        makeConstOperation(`${id}_zero_point`, immediateValue({ dtype: q.dtype, shape: [], data })),
      );
      parameters.zero_point = `${id}_zero_point`;
    }
    ops.push(makeConstOperation(`${id}_output_dtype`, stringValue(q.dtype)));
    const quantize = makeOperation(
      "quantize",
      `${id}_quantize`,
      { input, ...parameters, output_dtype: `${id}_output_dtype` },
      [{ name: `${id}_quantize`, dtype: q.dtype, shape: [] }],
    );
    quantize.outputs[0].type = retyped(type, q.dtype);
    const dequantized = output ?? `${id}_dequantize`;
    const dequantize = makeOperation(
      "dequantize",
      dequantized,
      { input: `${id}_quantize`, ...parameters },
      [{ name: dequantized, dtype: info.dtype, shape: [] }],
    );
    dequantize.outputs[0].type = clone(ValueTypeSchema, type);
    this.types.set(quantize.outputs[0].name, quantize.outputs[0].type);
    this.types.set(dequantized, dequantize.outputs[0].type);
    ops.push(quantize, dequantize);
    this.parameters.set(quantize, q);
    this.parameters.set(dequantize, q);
    ops.forEach((op) => op.type === "const" && this.created.add(op));
    return ops;
  }

  insertBefore(anchor: Operation, ops: Operation[]): void {
    this.block.operations.splice(this.block.operations.indexOf(anchor), 0, ...ops);
  }

  insertAfter(anchor: Operation, ops: Operation[]): void {
    this.block.operations.splice(this.block.operations.indexOf(anchor) + 1, 0, ...ops);
  }

  remove(op: Operation): void {
    this.block.operations.splice(this.block.operations.indexOf(op), 1);
  }
}

/** `type` (a tensor type) with another element type. */
function retyped(type: ValueType, dtype: "int8" | "uint8"): ValueType {
  const copy = clone(ValueTypeSchema, type);
  if (copy.type.case === "tensorType") copy.type.value.dataType = dataTypeOf(dtype);
  return copy;
}

function sameParameters(a: QuantizationParameters, b: QuantizationParameters): boolean {
  return a.dtype === b.dtype && a.scale === b.scale && a.zeroPoint === b.zeroPoint;
}

/** Points every op reading `from` (other than `except`) at `to`. */
function renameReaders(block: Block, from: string, to: string, except: Set<Operation>): void {
  for (const op of block.operations) {
    if (except.has(op)) continue;
    for (const argument of Object.values(op.inputs)) {
      for (const binding of argument.arguments) {
        if (binding.binding.case === "name" && binding.binding.value === from) {
          binding.binding = { case: "name", value: to };
        }
      }
    }
  }
}

function bindsName(op: Operation, input: string, name: string): void {
  const argument = op.inputs[input]?.arguments[0];
  if (argument) argument.binding = { case: "name", value: name };
}

interface Context {
  editor: BlockEditor;
  config: OptimizationConfig<ActivationConfig>;
  ranges: Map<string, ActivationRange>;
}

function quantizationOf(context: Context, name: string, config: ActivationConfig) {
  const range = context.ranges.get(name);
  const dtype = tensorTypeInfo(context.editor.typeOf(name))?.dtype;
  return range && activationQuantization(range, config, dtype === "fp32" ? "fp32" : "fp16");
}

/** The pairs left in the block, by the activation each quantizes. */
function remainingPairs(editor: BlockEditor): ActivationQuantizeResult["pairs"] {
  return editor.block.operations.flatMap((op) => {
    const q = editor.parameters.get(op);
    if (op.type !== "quantize" || !q) return [];
    const activation = inputNames(op, "input")[0];
    return [{ activation, scale: q.scale, zeroPoint: q.zeroPoint ?? 0, dtype: q.dtype }];
  });
}

/** Pairs before the live inputs of every quantizable op. */
function insertPrefixPairs(context: Context): void {
  const { editor, config, ranges } = context;
  for (const op of [...editor.block.operations]) {
    if (!QUANTIZED_OPS.has(op.type)) continue;
    const opConfig = configForOp(config, op);
    if (!opConfig) continue;
    const inputs = op.type === "add" ? ["x", "y"] : ["x"];
    const names = inputs.map((input) => inputNames(op, input)[0]);
    // Literal (or const) inputs are weights, not activations; unknown ranges cannot be quantized.
    if (names.some((n) => n === undefined || editor.isConst(n) || !ranges.has(n))) continue;
    inputs.forEach((input, i) => {
      const q = quantizationOf(context, names[i]!, opConfig)!;
      const ops = editor.pair(names[i]!, `${opName(op)}_${input}`, q);
      editor.prefixQuantizes.add(ops[ops.length - 2]);
      editor.insertBefore(op, ops);
      bindsName(op, input, ops[ops.length - 1].outputs[0].name);
    });
  }
}

/** Pairs after quantizable ops (or their following activation) fed by dequantize ops. */
function insertSuffixPairs(context: Context): void {
  const { editor, config } = context;
  const only = (op: Operation, type?: string) => {
    const readers = editor.readers(op.outputs[0].name);
    return readers.length === 1 && (type === undefined || readers[0].type === type);
  };
  let changed = true;
  while (changed) {
    changed = false;
    for (const dequantize of [...editor.block.operations]) {
      if (editor.visited.has(dequantize) || dequantize.type !== "dequantize") continue;
      editor.visited.add(dequantize);
      const readers = editor.readers(dequantize.outputs[0].name);
      if (readers.length !== 1 || !QUANTIZED_OPS.has(readers[0].type)) continue;
      const core = readers[0];
      if (core.type === "add") {
        const fed = ["x", "y"].every((input) => {
          const name = inputNames(core, input)[0];
          return name !== undefined && editor.producer(name)?.type === "dequantize";
        });
        if (!fed) continue;
      }
      const opConfig = configForOp(config, core);
      if (!opConfig || only(core, "quantize")) continue;
      let last = core;
      let next: Operation | undefined = editor.readers(core.outputs[0].name)[0];
      if (next && FOLLOWING_ACTIVATIONS.has(next.type)) {
        const after = editor.readers(next.outputs[0].name);
        if (after.length > 0) {
          if (only(next, "quantize")) continue;
          last = next;
          next = after[0];
        }
      }
      if (!next) continue;
      const name = last.outputs[0].name;
      const q = quantizationOf(context, name, opConfig);
      if (!q) continue;
      const dequantized = `${name}__post__dequant`;
      const ops = editor.pair(name, name, q, dequantized);
      ops.forEach((op) => editor.visited.add(op));
      editor.insertAfter(last, ops);
      renameReaders(editor.block, name, dequantized, new Set(ops));
      changed = true;
    }
  }
}

/** Removes quantize ops that undo the dequantize feeding them (same parameters). */
function removeRedundantQuantizes(context: Context): void {
  const { editor } = context;
  let changed = true;
  while (changed) {
    changed = false;
    for (const dequantize of [...editor.block.operations]) {
      if (dequantize.type !== "dequantize") continue;
      const output = dequantize.outputs[0].name;
      if (editor.block.outputs.includes(output)) continue;
      const source = inputNames(dequantize, "input")[0];
      const parameters = editor.parameters.get(dequantize);
      if (!parameters) continue;
      for (const reader of editor.readers(output)) {
        const other = reader.type === "quantize" ? editor.parameters.get(reader) : undefined;
        if (!other || !sameParameters(other, parameters)) continue;
        renameReaders(editor.block, reader.outputs[0].name, source, new Set());
        editor.remove(reader);
        changed = true;
      }
      if (changed && editor.readers(output).length === 0) editor.remove(dequantize);
      if (changed) break;
    }
  }
  removeUnusedConsts(editor);
}

/** Drops const ops nothing reads any more (the parameters of removed quantize ops). */
function removeUnusedConsts(editor: BlockEditor): void {
  const read = new Set<string>(editor.block.outputs);
  for (const op of editor.block.operations) {
    for (const argument of Object.values(op.inputs)) {
      for (const binding of argument.arguments) {
        if (binding.binding.case === "name") read.add(binding.binding.value);
      }
    }
  }
  editor.block.operations = editor.block.operations.filter(
    (op) => op.type !== "const" || !editor.created.has(op) || read.has(op.outputs[0].name),
  );
}

/** Fails unless every config is an 8-bit linear quantizer config. */
function checkConfig(config: OptimizationConfig<ActivationConfig>): void {
  expectConfigKinds(config, [ACTIVATION_QUANTIZER, LINEAR_QUANTIZER], PASS);
  const configs = [
    config.globalConfig,
    ...Object.values(config.opTypeConfigs ?? {}),
    ...Object.values(config.opNameConfigs ?? {}),
  ];
  for (const c of configs) {
    if (c && c.dtype !== "int8" && c.dtype !== "uint8") {
      throw new ConfigError(`${PASS}: activations are quantized to int8 or uint8, not ${c.dtype}`);
    }
  }
}

function requireIos17(model: MLModel): void {
  requireTarget(model.spec.specificationVersion, "iOS17", `${PASS}: quantize/dequantize ops`);
}

/**
 * Quantizes a model's activations to 8 bits, calibrated on `samples` (one record of input
 * tensors per sample). The default function of the model's ML program is rewritten; the input
 * model is left as it is.
 */
export async function linearQuantizeActivations(
  input: MLModel,
  config: OptimizationConfig<ActivationConfig>,
  samples: readonly Record<string, Tensor>[],
  options: ActivationQuantizeOptions = {},
): Promise<ActivationQuantizeResult> {
  checkConfig(config);
  if (samples.length === 0) {
    throw new ConfigError(`${PASS} needs at least one sample to calibrate the activations`);
  }
  if (input.spec.Type.case !== "mlProgram") {
    throw new UnsupportedError(
      `${PASS} works on ML programs (this model is a ${input.spec.Type.case ?? "empty model"})`,
    );
  }
  const model = options.raiseTarget ? raiseTarget(input, options.raiseTarget) : input;
  try {
    requireIos17(model);
    const ranges = await collectActivationRanges(model, samples, options);
    // Copy the weights into a model of our own, then edit its program in place.
    const result = await rewriteWeights(model, () => Promise.resolve(undefined), {
      filter: () => false,
    });
    const program = result.spec.Type.value as Program;
    const name = options.functionName ?? (result.spec.description?.defaultFunctionName || "main");
    const fn = program.functions[name];
    const block = fn?.blockSpecializations[fn.opset];
    if (!fn || !block) throw new ConfigError(`the program has no function "${name}"`);
    // Model outputs are not calibrated (coremltools leaves them in float).
    for (const output of block.outputs) ranges.delete(output);
    shareConcatRanges(block, ranges);
    const types = new Map<string, ValueType | undefined>();
    for (const i of fn.inputs) types.set(i.name, i.type);
    for (const op of block.operations) for (const o of op.outputs) types.set(o.name, o.type);
    const context: Context = {
      editor: new BlockEditor(block, types),
      config,
      ranges,
    };
    insertPrefixPairs(context);
    insertSuffixPairs(context);
    removeRedundantQuantizes(context);
    return { model: result, pairs: remainingPairs(context.editor), ranges };
  } finally {
    if (model !== input) await model.close();
  }
}
