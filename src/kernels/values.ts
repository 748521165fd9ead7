/** Reading tensor elements as plain numbers, whatever their storage. */
import { halfToFloatArray } from "./fp16.js";
import { ELEMENT_TYPES, type Tensor } from "./dtype.js";

/** The numeric value of every element (fp16 decoded; integers and floats as they are). */
export function numericValues(tensor: Tensor): Float32Array | Float64Array {
  const { dtype, data } = tensor;
  const kind = ELEMENT_TYPES[dtype].kind;
  if (dtype === "fp16") return halfToFloatArray(data as Uint16Array);
  if (dtype === "fp32") return data as Float32Array;
  if (dtype === "fp64") return data as Float64Array;
  if (kind === "signed" || kind === "unsigned" || kind === "bool") {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      return Float64Array.from(data, Number);
    }
    return Float64Array.from(data as ArrayLike<number>);
  }
  throw new RangeError(`${dtype} tensors have no numeric values here`);
}
