/**
 * Checks an ML program against itself and the bytes present before anything runs on it: every
 * value name an op uses is defined before it (in its block or an enclosing one), every op that
 * must have outputs has them, every declared shape is a real size, and every literal's data is
 * there in the amount its type declares (inline, or in a weight-file blob whose metadata agrees).
 * Passes, the interpreter and analyses call `validateProgram` first; after it, they may trust
 * names, shapes and sizes.
 */
import type {
  Block,
  NamedValueType,
  Operation,
  Program,
  TensorValue,
  Value,
  ValueType,
} from "../format/gen/MIL_pb.js";
import type { Model } from "../format/gen/Model_pb.js";
import type { MLModel } from "../format/ml-model.js";
import { modelTree } from "../format/model-tree.js";
import { checkFeatureDescriptions } from "../format/description.js";
import { FormatError } from "../errors.js";
import { byteLength, type ElementType, elementCount } from "../kernels/dtype.js";
import { countSetBits } from "../kernels/sparse.js";
import { CONSTEXPR_OPS, isConstexprOp, parameterBindings } from "./constexpr.js";
import { opName } from "./ops.js";
import { tensorTypeInfo } from "./types.js";
import {
  immediateFieldHolds,
  readPackedBits,
  readTensorValue,
  type WeightFiles,
} from "./values.js";

/** Larger dimensions are not sizes but corrupt numbers (no tensor dimension comes near). */
const MAX_DIMENSION = 2 ** 32;

/** Models already checked: validation runs once per spec object. */
const validated = new WeakSet<object>();

/** Ops whose results are values they hold, so they must name at least one output. */
const MUST_HAVE_OUTPUTS = (type: string) => type === "const" || type.startsWith("constexpr_");

class ProgramChecker {
  /** Blob offsets already checked, per weight file and element type. */
  private readonly blobs = new Set<string>();
  /**
   * Blob checks under way, in program order: their metadata reads go at once, not one round
   * trip after another (a hundred on mobilenet_v2), and `settle` reports the first failure.
   */
  private readonly pendingBlobs: Promise<void>[] = [];
  /** Declared types of the values defined so far, and the literal each const op holds. */
  private readonly types = new Map<string, ValueType | undefined>();
  private readonly constants = new Map<string, Value>();

  constructor(
    private readonly weights: WeightFiles & { weightFiles: MLModel["weightFiles"] },
    private readonly where: string,
  ) {}

  async program(program: Program): Promise<void> {
    for (const [name, fn] of Object.entries(program.functions)) {
      const label = `${this.where}: function ${name}`;
      const scope = new Set<string>();
      for (const input of fn.inputs) this.define(input, scope, label);
      const specializations = Object.entries(fn.blockSpecializations);
      if (specializations.length === 0) throw new FormatError(label, "has no block");
      for (const [, block] of specializations) {
        // Core ML compiles no function that returns nothing, and there is nothing to predict.
        if (block.outputs.length === 0) throw new FormatError(label, "returns no outputs");
        await this.block(block, scope, label);
      }
    }
  }

  private define(value: NamedValueType, scope: Set<string>, label: string): void {
    if (value.name === "") throw new FormatError(label, "declares a value without a name");
    this.type(value.type, `${label}: value "${value.name}"`);
    scope.add(value.name);
    this.types.set(value.name, value.type);
  }

  private async block(block: Block, outer: ReadonlySet<string>, label: string): Promise<void> {
    const scope = new Set(outer);
    for (const input of block.inputs) this.define(input, scope, `${label}: block input`);
    for (const op of block.operations) await this.operation(op, scope, label);
    for (const output of block.outputs) {
      if (!scope.has(output)) {
        throw new FormatError(label, `block output "${output}" is not defined in the block`);
      }
    }
  }

  private async operation(op: Operation, scope: Set<string>, where: string): Promise<void> {
    const label = `${where}: op ${op.type || "(no type)"} "${opName(op)}"`;
    if (op.type === "") throw new FormatError(label, "has no op type");
    for (const [input, argument] of Object.entries(op.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case === "name") {
          if (!scope.has(binding.value)) {
            const name = binding.value === "" ? "an empty name" : `"${binding.value}"`;
            throw new FormatError(
              label,
              `input ${input} uses ${name}, which is not defined before it`,
            );
          }
        } else if (binding.case === "value") {
          await this.value(binding.value, `${label}: input ${input}`);
        } else {
          throw new FormatError(label, `input ${input} is bound to nothing`);
        }
      }
    }
    for (const [key, value] of Object.entries(op.attributes)) {
      await this.value(value, `${label}: attribute ${key}`);
    }
    if (MUST_HAVE_OUTPUTS(op.type) && op.outputs.length === 0) {
      throw new FormatError(label, "has no outputs");
    }
    if (op.type === "const" && !op.attributes["val"]) throw new FormatError(label, "has no value");
    if (isConstexprOp(op.type)) await this.constexpr(op, label);
    for (const nested of op.blocks) await this.block(nested, scope, label);
    for (const output of op.outputs) this.define(output, scope, label);
    const literal = op.attributes["val"];
    if (op.type === "const" && literal) this.constants.set(op.outputs[0].name, literal);
  }

  /**
   * A compile-time op: the parameters its evaluator needs are bound, and its outputs are
   * tensors of known shape (what decompression and the interpreter produce in their place).
   */
  private async constexpr(op: Operation, label: string): Promise<void> {
    const evaluator = CONSTEXPR_OPS.get(op.type);
    if (evaluator) {
      const bound = new Set(parameterBindings(op).map(([key]) => key));
      const missing = evaluator.required.filter((name) => !bound.has(name));
      if (missing.length > 0) throw new FormatError(label, `lacks parameter ${missing.join(", ")}`);
    }
    for (const output of op.outputs) {
      const info = this.tensorType(output.type, label);
      if (!info || info.shape.includes(null)) {
        throw new FormatError(label, `output "${output.name}" is not a tensor of known shape`);
      }
    }
    if (evaluator?.masked) await this.maskedCount(op, evaluator.masked, label);
  }

  /**
   * A sparse op's mask sets as many positions as it has values: the only count of a compressed
   * weight that its types cannot tell, so the mask bits are read and counted.
   */
  private async maskedCount(
    op: Operation,
    [maskKey, valuesKey]: readonly [string, string],
    label: string,
  ): Promise<void> {
    const bindings = new Map(parameterBindings(op));
    const literal = (binding: string | Value | undefined) =>
      typeof binding === "string" ? this.constants.get(binding) : binding;
    const values = bindings.get(valuesKey);
    const valuesInfo = this.tensorType(
      typeof values === "string" ? this.types.get(values) : values?.type,
      label,
    );
    const mask = literal(bindings.get(maskKey));
    const maskInfo = mask && this.tensorType(mask.type, label);
    if (!valuesInfo || valuesInfo.shape.includes(null) || !mask || !maskInfo) return;
    let bits: Uint8Array;
    let length: number;
    if (maskInfo.dtype === "uint1") {
      bits = await readPackedBits(mask, this.weights, label);
      length = elementCount(maskInfo.shape as number[]);
    } else {
      // iOS16 packs the mask into bytes; its shape parameter says how many bits count.
      const shape = literal(bindings.get("shape"));
      if (!shape) return;
      const dimensions = (await readTensorValue(shape, this.weights, label)).data;
      length = elementCount(Array.from(dimensions as ArrayLike<number>, Number));
      bits = (await readTensorValue(mask, this.weights, label)).data as Uint8Array;
      if (bits.length !== Math.ceil(length / 8)) {
        const needed = Math.ceil(length / 8);
        throw new FormatError(
          label,
          `mask holds ${bits.length} bytes, ${length} elements need ${needed}`,
        );
      }
    }
    const kept = countSetBits(bits, length);
    const count = elementCount(valuesInfo.shape as number[]);
    if (kept !== count) {
      throw new FormatError(label, `mask sets ${kept} positions but ${count} values are given`);
    }
  }

  /** A declared type: known element type, and every known dimension a real size. */
  private type(type: ValueType | undefined, label: string): void {
    const info = this.tensorType(type, label);
    if (!info) return;
    for (const d of info.shape) {
      if (d !== null && !(Number.isSafeInteger(d) && d >= 0 && d < MAX_DIMENSION)) {
        throw new FormatError(label, `has a dimension of ${d}, which is not a tensor size`);
      }
    }
  }

  private tensorType(type: ValueType | undefined, label: string) {
    try {
      return tensorTypeInfo(type);
    } catch (error) {
      throw new FormatError(label, (error as Error).message);
    }
  }

  /** A literal: its type, and data in the amount the type declares. */
  private async value(value: Value, label: string): Promise<void> {
    this.type(value.type, label);
    const info = this.tensorType(value.type, label);
    if (!info) return;
    if (info.shape.includes(null)) {
      throw new FormatError(label, "literal value has an unknown dimension");
    }
    const count = elementCount(info.shape as number[]);
    if (!Number.isSafeInteger(count)) {
      throw new FormatError(label, `literal value declares ${count} elements`);
    }
    const data = value.value;
    if (data.case === "immediateValue") {
      const immediate = data.value.value;
      // A tensor type holds a tensor literal; what readers would find there instead fails here.
      if (immediate.case !== "tensor") {
        const held = immediate.case === undefined ? "nothing" : `a ${immediate.case}`;
        throw new FormatError(label, `immediate value holds ${held}, its type is a tensor`);
      }
      immediateCount(immediate.value.value, info.dtype, count, label);
    } else if (data.case === "blobFileValue") {
      const check = this.blob(
        data.value.fileName,
        Number(data.value.offset),
        info.dtype,
        count,
        label,
      );
      // Awaited by `settle`; a failure found first elsewhere leaves it unhandled otherwise.
      check.catch(() => undefined);
      this.pendingBlobs.push(check);
    } else {
      throw new FormatError(label, "literal value has neither data nor a blob reference");
    }
  }

  /** Waits for the blob checks, failing with the first in program order that failed. */
  async settle(): Promise<void> {
    for (const check of this.pendingBlobs) await check;
  }

  private async blob(
    fileName: string,
    offset: number,
    dtype: ElementType,
    count: number,
    label: string,
  ): Promise<void> {
    const key = `${fileName}\0${offset}\0${dtype}\0${count}`;
    if (this.blobs.has(key)) return;
    if (!this.weights.weightFiles.has(fileName)) {
      throw new FormatError(label, `refers to weight file ${fileName}, which the model lacks`);
    }
    const reader = await this.weights.blobFile(fileName);
    const metadata = await reader.readMetadata(offset);
    if (metadata.dtype !== dtype) {
      throw new FormatError(
        label,
        `blob at ${offset} holds ${metadata.dtype}, the type says ${dtype}`,
      );
    }
    const needed = byteLength(dtype, count);
    if (metadata.sizeInBytes !== needed) {
      throw new FormatError(
        label,
        `blob at ${offset} holds ${metadata.sizeInBytes} bytes, ${dtype}[${count}] needs ${needed}`,
      );
    }
    this.blobs.add(key);
  }
}

/** Checks an immediate tensor holds `count` elements before anything allocates for them. */
function immediateCount(
  field: TensorValue["value"],
  dtype: ElementType,
  count: number,
  label: string,
) {
  if (field.case === undefined) throw new FormatError(label, "immediate value is empty");
  if (!immediateFieldHolds(field.case, dtype)) {
    throw new FormatError(label, `an immediate ${field.case} value cannot hold ${dtype} data`);
  }
  const held = field.value.values.length;
  const expected = field.case === "bytes" ? byteLength(dtype, count) : count;
  // A scalar may be held as one element of a rank-0 type; coremltools writes both.
  if (held !== expected && !(field.case !== "bytes" && count === 1 && held === 1)) {
    const unit = field.case === "bytes" ? "bytes" : "elements";
    throw new FormatError(
      label,
      `immediate value holds ${held} ${unit}, its type needs ${expected}`,
    );
  }
}

/**
 * Validates the interface and every ML program of `model` (pipelines included) once; later
 * calls on the same model return at once.
 */
export async function validateProgram(model: MLModel): Promise<void> {
  if (validated.has(model.spec)) return;
  const where = model.sourcePath ?? "model";
  checkFeatureDescriptions(model.spec, where);
  const checker = new ProgramChecker(model, where);
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case === "mlProgram") await checker.program(nested.Type.value);
  }
  await checker.settle();
  validated.add(model.spec);
}

/**
 * Marks `derived` valid when `source` is: for a copy whose programs differ only in their opset
 * and specification version (raiseTarget's), where nothing validation checks differs.
 */
export function inheritValidation(derived: Model, source: Model): void {
  if (validated.has(source)) validated.add(derived);
}
