/** Human-readable types of model inputs and outputs. */
import {
  ArrayFeatureType_ArrayDataType,
  ImageFeatureType_ColorSpace,
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
      return `${optional}${ARRAY_TYPES[t.value.dataType] ?? "array"}[${t.value.shape.join(",")}]`;
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
