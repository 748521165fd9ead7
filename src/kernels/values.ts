/** Reading tensor elements as plain numbers, whatever their storage. */
import { halfToFloatArray } from "./fp16.js";
import { ELEMENT_TYPES, type Tensor } from "./dtype.js";

/**
 * The numeric value of every element: fp16 decoded, 64-bit integers converted, other numeric
 * arrays as they are (not copied).
 */
export function numericValues(tensor: Tensor): ArrayLike<number> {
  const { dtype, data } = tensor;
  const kind = ELEMENT_TYPES[dtype].kind;
  if (dtype === "fp16") return halfToFloatArray(data as Uint16Array);
  if (dtype === "fp32" || dtype === "fp64") return data as Float32Array | Float64Array;
  if (kind === "signed" || kind === "unsigned" || kind === "bool") {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      return Float64Array.from(data, Number);
    }
    return data as ArrayLike<number>;
  }
  throw new RangeError(`${dtype} tensors have no numeric values here`);
}
