/** Human-readable types of model inputs and outputs. */
import {
  ArrayFeatureType_ArrayDataType,
  ImageFeatureType_ColorSpace,
  type ArrayFeatureType,
  type FeatureType,
} from "../format/gen/FeatureTypes_pb.js";

const ARRAY_TYPES: Record<number, string> = {
  [ArrayFeatureType_ArrayDataType.FLOAT32]: "fp32",
  [ArrayFeatureType_ArrayDataType.FLOAT16]: "fp16",
  [ArrayFeatureType_ArrayDataType.DOUBLE]: "fp64",
  [ArrayFeatureType_ArrayDataType.INT32]: "int32",
  [ArrayFeatureType_ArrayDataType.INT8]: "int8",
};

export function formatFeatureType(type: FeatureType | undefined): string {
  const optional = type?.isOptional ? "optional " : "";
  const t = type?.Type;
  switch (t?.case) {
    case "multiArrayType":
      return `${optional}${ARRAY_TYPES[t.value.dataType] ?? "array"}${formatArrayShape(t.value)}`;
    case "imageType": {
      const space = ImageFeatureType_ColorSpace[t.value.colorSpace] ?? "image";
      return `${optional}image ${space} ${t.value.width}x${t.value.height}`;
    }
    case "int64Type":
      return `${optional}int64`;
    case "doubleType":
      return `${optional}double`;
    case "stringType":
      return `${optional}string`;
    case "dictionaryType":
      return `${optional}dict<${t.value.KeyType.case === "int64KeyType" ? "int64" : "string"}, double>`;
    case "sequenceType":
      return `${optional}sequence<${t.value.Type.case === "int64Type" ? "int64" : "string"}>`;
    case "stateType":
      return `state ${t.value.Type.case === "arrayType" ? formatFeatureType({ Type: { case: "multiArrayType", value: t.value.Type.value } } as FeatureType) : ""}`;
    default:
      return "unknown";
  }
}

/**
 * `[1,3,224,224]`; a flexible shape as its ranges (`[1,1..128]`, `-1` upper bound as `*`) or
 * its enumerated shapes joined by `|`; `[?]` when the model does not say (common for outputs).
 */
function formatArrayShape(array: ArrayFeatureType): string {
  const flexibility = array.ShapeFlexibility;
  if (flexibility.case === "shapeRange" && flexibility.value.sizeRanges.length > 0) {
    const ranges = flexibility.value.sizeRanges.map(({ lowerBound, upperBound }) =>
      lowerBound === upperBound
        ? `${lowerBound}`
        : `${lowerBound}..${upperBound < 0n ? "*" : upperBound}`,
    );
    return `[${ranges.join(",")}]`;
  }
  if (flexibility.case === "enumeratedShapes" && flexibility.value.shapes.length > 0) {
    return flexibility.value.shapes.map((s) => `[${s.shape.join(",")}]`).join("|");
  }
  return array.shape.length > 0 ? `[${array.shape.join(",")}]` : "[?]";
}
