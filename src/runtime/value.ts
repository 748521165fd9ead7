/**
 * Values while a program runs: every numeric tensor is held as Float32Array whatever its
 * element type (integers are exact up to 2^24, enough for shapes and indices; fp16 values are
 * kept rounded to fp16), strings as string arrays.
 */
import { ELEMENT_TYPES, type ElementType, type Tensor, type TypedArray } from "../kernels/dtype.js";
import { floatToHalfArray, halfToFloatArray } from "../kernels/fp16.js";
import { UnsupportedError } from "../errors.js";

export type NumericType = Exclude<ElementType, "string">;

export interface NumericValue {
  readonly dtype: NumericType;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface StringValue {
  readonly dtype: "string";
  readonly shape: readonly number[];
  readonly data: string[];
}

/** A MIL list (make_list, list_write, ...): elements not yet written read as zeros. */
export interface ListValue {
  readonly dtype: "list";
  readonly elementType: NumericType;
  readonly elementShape: readonly number[];
  readonly data: readonly (NumericValue | undefined)[];
  /** Lists made with dynamic_length grow on writes past their end. */
  readonly dynamic: boolean;
}

export type RuntimeValue = NumericValue | StringValue | ListValue;

export function isNumeric(value: RuntimeValue): value is NumericValue {
  return value.dtype !== "string" && value.dtype !== "list";
}

/** A tensor of any element type as a runtime value. */
export function fromTensor(tensor: Tensor): NumericValue | StringValue {
  if (tensor.dtype === "string")
    return { dtype: "string", shape: tensor.shape, data: tensor.data as string[] };
  const data = tensor.data as TypedArray;
  let values: Float32Array;
  if (tensor.dtype === "fp16") values = halfToFloatArray(data as Uint16Array);
  else if (tensor.dtype === "bf16" || tensor.dtype.startsWith("fp8")) {
    throw new UnsupportedError(`running ${tensor.dtype} tensors is not supported`);
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    values = Float32Array.from(data, (v) => Number(v));
  } else values = data instanceof Float32Array ? data : Float32Array.from(data);
  return { dtype: tensor.dtype, shape: tensor.shape, data: values };
}

/** A runtime value as a tensor of `dtype` (fp16 as raw bits, integers truncated). */
export function toTensor(value: RuntimeValue, dtype: ElementType): Tensor {
  if (value.dtype === "list") throw new UnsupportedError("list values cannot be program outputs");
  if (value.dtype === "string")
    return { dtype: "string", shape: [...value.shape], data: value.data };
  const src = value.data;
  const shape = [...value.shape];
  if (dtype === "fp32") return { dtype, shape, data: Float32Array.from(src) };
  if (dtype === "fp16") return { dtype, shape, data: floatToHalfArray(src) };
  const ArrayType = ELEMENT_TYPES[dtype].array;
  if (!ArrayType) throw new UnsupportedError(`cannot hold ${dtype} values`);
  if (ArrayType === BigInt64Array || ArrayType === BigUint64Array) {
    const out = new ArrayType(src.length);
    for (let i = 0; i < src.length; i++) out[i] = BigInt(Math.trunc(src[i]));
    return { dtype, shape, data: out };
  }
  const out = new ArrayType(src.length) as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
  for (let i = 0; i < src.length; i++) out[i] = src[i];
  return { dtype, shape, data: out };
}

const halfScratch = { bits: new Uint16Array(0) };

/** Rounds values in place to what `dtype` can hold (fp16 rounding, integer truncation, bool). */
export function roundInPlace(data: Float32Array, dtype: ElementType): void {
  const kind = ELEMENT_TYPES[dtype].kind;
  if (dtype === "fp16") {
    if (halfScratch.bits.length < data.length) halfScratch.bits = new Uint16Array(data.length);
    const bits = halfScratch.bits.subarray(0, data.length);
    floatToHalfArray(data, bits);
    halfToFloatArray(bits, data);
  } else if (kind === "signed" || kind === "unsigned") {
    for (let i = 0; i < data.length; i++) data[i] = Math.trunc(data[i]);
  } else if (kind === "bool") {
    for (let i = 0; i < data.length; i++) data[i] = data[i] !== 0 ? 1 : 0;
  }
}
