/** MIL value types: mapping MIL's DataType enum to element types, and building/reading types. */
import { create } from "@bufbuild/protobuf";
import {
  DataType,
  DimensionSchema,
  TensorTypeSchema,
  ValueTypeSchema,
  type ValueType,
} from "../format/gen/MIL_pb.js";
import type { ElementType } from "../kernels/dtype.js";
import { UnsupportedError } from "../errors.js";

const DATA_TYPE_TO_ELEMENT = new Map<DataType, ElementType>([
  [DataType.BOOL, "bool"],
  [DataType.STRING, "string"],
  [DataType.FLOAT8E4M3FN, "fp8e4m3fn"],
  [DataType.FLOAT8E5M2, "fp8e5m2"],
  [DataType.FLOAT16, "fp16"],
  [DataType.FLOAT32, "fp32"],
  [DataType.FLOAT64, "fp64"],
  [DataType.BFLOAT16, "bf16"],
  [DataType.INT8, "int8"],
  [DataType.INT16, "int16"],
  [DataType.INT32, "int32"],
  [DataType.INT64, "int64"],
  [DataType.INT4, "int4"],
  [DataType.UINT8, "uint8"],
  [DataType.UINT16, "uint16"],
  [DataType.UINT32, "uint32"],
  [DataType.UINT64, "uint64"],
  [DataType.UINT4, "uint4"],
  [DataType.UINT2, "uint2"],
  [DataType.UINT1, "uint1"],
  [DataType.UINT6, "uint6"],
  [DataType.UINT3, "uint3"],
]);
const ELEMENT_TO_DATA_TYPE = new Map<ElementType, DataType>(
  [...DATA_TYPE_TO_ELEMENT].map(([d, e]) => [e, d]),
);

function elementTypeOf(dataType: DataType): ElementType {
  const type = DATA_TYPE_TO_ELEMENT.get(dataType);
  if (!type) throw new UnsupportedError(`unknown MIL data type ${dataType}`);
  return type;
}

export function dataTypeOf(type: ElementType): DataType {
  return ELEMENT_TO_DATA_TYPE.get(type)!;
}

/** A dimension of a tensor type: a size, or null when unknown/symbolic. */
export type Dim = number | null;

export interface TensorTypeInfo {
  dtype: ElementType;
  shape: Dim[];
}

/** The element type and shape of a tensor value type, or undefined for lists, tuples, ... */
export function tensorTypeInfo(type: ValueType | undefined): TensorTypeInfo | undefined {
  if (type?.type.case !== "tensorType") return undefined;
  const tensor = type.type.value;
  return {
    dtype: elementTypeOf(tensor.dataType),
    shape: tensor.dimensions.map((d) =>
      d.dimension.case === "constant" ? Number(d.dimension.value.size) : null,
    ),
  };
}

/** A tensor value type with a fully known shape (rank 0 for scalars). */
export function tensorValueType(dtype: ElementType, shape: readonly number[]): ValueType {
  return create(ValueTypeSchema, {
    type: {
      case: "tensorType",
      value: create(TensorTypeSchema, {
        dataType: dataTypeOf(dtype),
        rank: BigInt(shape.length),
        dimensions: shape.map((size) =>
          create(DimensionSchema, {
            dimension: { case: "constant", value: { size: BigInt(size) } },
          }),
        ),
      }),
    },
  });
}

/** MIL's printed name of an element type ("fp16", "int8", ...): ours match it. */
export function formatType(info: TensorTypeInfo): string {
  return `${info.dtype}[${info.shape.map((d) => (d === null ? "?" : d)).join(",")}]`;
}
