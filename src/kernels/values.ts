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

/** Whether a float tensor (fp16 bit patterns or fp32) holds +∞ or −∞. */
export function hasInfinity(tensor: Tensor): boolean {
  if (tensor.dtype === "fp16") {
    const bits = tensor.data as Uint16Array;
    let from = 0;
    if (bits.byteOffset % 4 === 0) {
      // Two halves per read: only words with an all-ones exponent are looked at closely.
      const words = new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
      for (let i = 0; i < words.length; i++) {
        const word = words[i];
        if ((word & 0x7c00) === 0x7c00 || (word & 0x7c000000) === 0x7c000000) {
          if ((word & 0x7fff) === 0x7c00 || (word & 0x7fff0000) === 0x7c000000) return true;
        }
      }
      from = words.length * 2;
    }
    for (let i = from; i < bits.length; i++) if ((bits[i] & 0x7fff) === 0x7c00) return true;
    return false;
  }
  const values = tensor.data as Float32Array;
  if (tensor.dtype === "fp32") {
    // The bit patterns: an all-ones exponent and a zero mantissa (2–3× faster than Math.abs).
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7fffffff) === 0x7f800000) return true;
    return false;
  }
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) === Infinity) return true;
  return false;
}
