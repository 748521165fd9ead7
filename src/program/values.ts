/**
 * Literal values of a MIL program: decoding immediate and blob-file values into tensors, and
 * encoding tensors back the way coremltools serializes them (so that what we write matches what
 * Core ML's parser expects: e.g. fp16 and 8-bit immediates as raw bytes, int16 as int32s).
 */
import { supports } from "./targets.js";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  TensorValueSchema,
  ValueSchema,
  type TensorValue,
  type Value,
} from "../format/gen/MIL_pb.js";
import type { BlobFileReader } from "../format/blob/reader.js";
import { packSubByte, unpackSubByte } from "../kernels/bitpack.js";
import {
  ELEMENT_TYPES,
  byteLength,
  elementCount,
  isSubByte,
  type ElementType,
  type Tensor,
  type TypedArray,
} from "../kernels/dtype.js";
import { FormatError, UnsupportedError } from "../errors.js";
import { tensorTypeInfo, tensorValueType } from "./types.js";

/** Where blob-file values are read from: one reader per weight file name in the program. */
export interface WeightFiles {
  blobFile(fileName: string): Promise<BlobFileReader>;
}

/** Element types whose immediate values coremltools stores in the `bytes` field. */
const BYTES_IMMEDIATE = new Set<ElementType>([
  "fp16",
  "int4",
  "int8",
  "uint1",
  "uint2",
  "uint3",
  "uint4",
  "uint6",
  "uint8",
  "uint32",
]);

/** Element types coremltools writes to the weight file (from iOS18 on, also the 16/32-bit ints). */
const BLOB_TYPES = new Set<ElementType>(["fp16", "fp32", "uint8", "int8"]);
const BLOB_TYPES_IOS18 = new Set<ElementType>(["int16", "uint16", "int32", "uint32"]);

/**
 * Whether coremltools would store a tensor of this type and size in the weight file rather
 * than inline: at least 10 elements of a type the weight file holds (sub-byte types count as
 * the 8-bit types numpy holds them in).
 */
export function storesInWeightFile(
  dtype: ElementType,
  count: number,
  specificationVersion: number,
): boolean {
  if (count < 10) return false;
  if (BLOB_TYPES.has(dtype) || isSubByte(dtype)) return true;
  return supports(specificationVersion, "iOS18") && BLOB_TYPES_IOS18.has(dtype);
}

/** Which immediate fields can hold which element types (anything else is a corrupt value). */
const FIELD_HOLDS: Record<string, (dtype: ElementType) => boolean> = {
  floats: (dtype) => dtype === "fp32",
  doubles: (dtype) => dtype === "fp64",
  ints: (dtype) => {
    const { kind } = ELEMENT_TYPES[dtype];
    return (kind === "signed" || kind === "unsigned") && !isSubByte(dtype);
  },
  longInts: (dtype) => dtype === "int64" || dtype === "uint64",
  bools: (dtype) => dtype === "bool",
  strings: (dtype) => dtype === "string",
  bytes: (dtype) => BYTES_IMMEDIATE.has(dtype),
};

/** Whether an immediate tensor field of this kind can hold values of `dtype`. */
export function immediateFieldHolds(field: TensorValue["value"]["case"], dtype: ElementType) {
  return field !== undefined && FIELD_HOLDS[field](dtype);
}

function viewAs(type: ElementType, bytes: Uint8Array, count: number): TypedArray {
  const ArrayType = ELEMENT_TYPES[type].array!;
  const width = ArrayType.BYTES_PER_ELEMENT;
  // A copy, not `slice()`: on a Node Buffer that is a view at the same (unaligned) offset.
  const aligned = bytes.byteOffset % width === 0 ? bytes : new Uint8Array(bytes);
  return new ArrayType(aligned.buffer as ArrayBuffer, aligned.byteOffset, count);
}

/** Decodes an immediate tensor value of known element type and shape. */
export function decodeImmediateTensor(
  dtype: ElementType,
  shape: readonly number[],
  value: TensorValue,
  context: string,
): Tensor {
  const count = elementCount(shape);
  const traits = ELEMENT_TYPES[dtype];
  const field = value.value;
  if (field.case !== undefined && !immediateFieldHolds(field.case, dtype)) {
    throw new FormatError(context, `an immediate ${field.case} value cannot hold ${dtype} data`);
  }
  // Checked before anything is allocated by the declared shape, which may be corrupt.
  const held = field.case === undefined ? 0 : field.value.values.length;
  const expected = field.case === "bytes" ? byteLength(dtype, count) : count;
  if (field.case !== undefined && held !== expected && !(count === 1 && held === 1)) {
    throw new FormatError(
      context,
      `immediate ${dtype}[${shape.join(",")}] value holds ${held} ${field.case === "bytes" ? "bytes" : "elements"}, its type needs ${expected}`,
    );
  }
  let data: TypedArray | string[];
  switch (field.case) {
    case "floats":
      data = Float32Array.from(field.value.values);
      break;
    case "doubles":
      data = Float64Array.from(field.value.values);
      break;
    case "ints":
      data = new traits.array!(count) as TypedArray;
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
        data.set(field.value.values.map(BigInt));
      } else {
        (data as Int32Array).set(field.value.values);
      }
      break;
    case "longInts":
      data =
        dtype === "uint64"
          ? BigUint64Array.from(field.value.values, (v) => BigInt.asUintN(64, v))
          : BigInt64Array.from(field.value.values);
      break;
    case "bools":
      data = Uint8Array.from(field.value.values, (b) => (b ? 1 : 0));
      break;
    case "strings":
      data = [...field.value.values];
      break;
    case "bytes": {
      const bytes = field.value.values;
      if (bytes.length !== byteLength(dtype, count)) {
        throw new FormatError(
          context,
          `immediate ${dtype} value holds ${bytes.length} bytes, expected ${byteLength(dtype, count)}`,
        );
      }
      data = isSubByte(dtype)
        ? unpackSubByte(bytes, traits.bits, count, traits.kind === "signed")
        : viewAs(dtype, bytes, count);
      break;
    }
    default:
      throw new FormatError(context, "immediate tensor value is empty");
  }
  if (data.length !== count && !(count === 1 && shape.length === 0 && data.length === 1)) {
    throw new FormatError(
      context,
      `immediate value has ${data.length} elements, its type ${dtype}[${shape.join(",")}] needs ${count}`,
    );
  }
  return { dtype, shape, data };
}

/** Reads a tensor-typed literal value (immediate or from a weight file). */
export async function readTensorValue(
  value: Value,
  weights: WeightFiles,
  context: string,
): Promise<Tensor> {
  const info = tensorTypeInfo(value.type);
  if (!info) throw new UnsupportedError(`${context}: value is not a tensor`);
  if (info.shape.some((d) => d === null)) {
    throw new FormatError(context, "constant tensor has an unknown dimension");
  }
  const shape = info.shape as number[];
  const v = value.value;
  if (v.case === "immediateValue") {
    if (v.value.value.case !== "tensor") {
      throw new UnsupportedError(
        `${context}: immediate ${v.value.value.case} values are not tensors`,
      );
    }
    return decodeImmediateTensor(info.dtype, shape, v.value.value.value, context);
  }
  if (v.case === "blobFileValue") {
    const file = await weights.blobFile(v.value.fileName);
    const data = await file.readTensorData(Number(v.value.offset), info.dtype, elementCount(shape));
    return { dtype: info.dtype, shape, data };
  }
  throw new FormatError(context, "value has neither immediate data nor a blob reference");
}

/**
 * The bits of a uint1 literal value (a sparse mask) packed as blobs store them, one bit per
 * element from the least significant bit of the first byte, without unpacking them.
 */
export async function readPackedBits(
  value: Value,
  weights: WeightFiles,
  context: string,
): Promise<Uint8Array> {
  const info = tensorTypeInfo(value.type);
  const v = value.value;
  if (info?.dtype === "uint1" && !info.shape.includes(null) && v.case === "blobFileValue") {
    const file = await weights.blobFile(v.value.fileName);
    const count = elementCount(info.shape as number[]);
    return file.readStoredBytes(Number(v.value.offset), "uint1", count);
  }
  const tensor = await readTensorValue(value, weights, context);
  return packSubByte(tensor.data as Uint8Array, 1);
}

type TensorValueInit = NonNullable<MessageInitShape<typeof TensorValueSchema>["value"]>;

function tensorField(tensor: Tensor): TensorValueInit {
  const { dtype, data } = tensor;
  if (dtype === "string") return { case: "strings", value: { values: data as string[] } };
  if (dtype === "bool") {
    return { case: "bools", value: { values: Array.from(data as Uint8Array, (b) => b !== 0) } };
  }
  if (BYTES_IMMEDIATE.has(dtype)) {
    const traits = ELEMENT_TYPES[dtype];
    const typed = data as TypedArray;
    const bytes = isSubByte(dtype)
      ? tensor.packed
        ? (typed as Uint8Array)
        : packSubByte(typed as Int8Array | Uint8Array, traits.bits)
      : new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength));
    return { case: "bytes", value: { values: bytes } };
  }
  switch (dtype) {
    case "fp32":
      return { case: "floats", value: { values: Array.from(data as Float32Array) } };
    case "fp64":
      return { case: "doubles", value: { values: Array.from(data as Float64Array) } };
    case "int64":
    case "uint64":
      return {
        case: "longInts",
        value: { values: Array.from(data as BigInt64Array, (v) => BigInt.asIntN(64, v)) },
      };
    case "int32":
    case "int16":
    case "uint16":
      return { case: "ints", value: { values: Array.from(data as Int32Array) } };
    default:
      throw new UnsupportedError(`cannot store a ${dtype} tensor as an immediate value`);
  }
}

/** An immediate (inline) value holding `tensor`, encoded as coremltools encodes it. */
export function immediateValue(tensor: Tensor): Value {
  return create(ValueSchema, {
    type: tensorValueType(tensor.dtype, tensor.shape),
    value: {
      case: "immediateValue",
      value: {
        value: { case: "tensor", value: create(TensorValueSchema, { value: tensorField(tensor) }) },
      },
    },
  });
}

/** A value referencing a blob (by its metadata offset) in a weight file. */
export function blobFileValue(
  dtype: ElementType,
  shape: readonly number[],
  fileName: string,
  offset: number,
): Value {
  return create(ValueSchema, {
    type: tensorValueType(dtype, shape),
    value: { case: "blobFileValue", value: { fileName, offset: BigInt(offset) } },
  });
}

/** A scalar string immediate, as used for op names and string parameters. */
export function stringValue(text: string): Value {
  return immediateValue({ dtype: "string", shape: [], data: [text] });
}
