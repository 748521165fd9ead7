/**
 * Sparse weights as a bit mask plus the values of the set positions, in row-major order.
 * Values are copied as stored (fp16 bit patterns included).
 */
import { ELEMENT_TYPES, elementCount, type Tensor, type TypedArray } from "./dtype.js";
import { stridesOf } from "./ops/shape.js";

function allocate(like: Tensor, count: number): TypedArray {
  const ArrayType = ELEMENT_TYPES[like.dtype].array;
  if (!ArrayType) throw new RangeError(`cannot hold ${like.dtype} values`);
  return new ArrayType(count) as TypedArray;
}

/** 1 when `x` is non-zero, else 0 (for mask entries below 2^31), without a branch. */
function isSet(x: number): number {
  return (x | -x) >>> 31;
}

/** How many entries of `mask` among its first `length` are non-zero. */
function countSet(mask: ArrayLike<number>, length = mask.length): number {
  let count = 0;
  for (let i = 0; i < length; i++) count += isSet(mask[i]);
  return count;
}

/**
 * The elements of `data` as unsigned integers of their width, so that copies move bit patterns
 * and masking with `& -bit` keeps or zeroes them; undefined for 64-bit elements.
 */
function bitsView(data: TypedArray): Uint8Array | Uint16Array | Uint32Array | undefined {
  const { buffer, byteOffset, length } = data;
  switch (data.BYTES_PER_ELEMENT) {
    case 1:
      return new Uint8Array(buffer, byteOffset, length);
    case 2:
      return new Uint16Array(buffer, byteOffset, length);
    case 4:
      return new Uint32Array(buffer, byteOffset, length);
    default:
      return undefined;
  }
}

/** Scatters `nonzero` (a vector) into the set positions of `mask` (one 0/1 per element); zeros elsewhere. */
export function sparseToDense(
  nonzero: Tensor,
  mask: ArrayLike<number>,
  shape: readonly number[],
): Tensor {
  const count = elementCount(shape);
  if (mask.length < count)
    throw new RangeError(`mask has ${mask.length} bits, shape needs ${count}`);
  const data = nonzero.data as TypedArray;
  const kept = countSet(mask, count);
  if (kept !== data.length) {
    throw new RangeError(`mask sets ${kept} positions but ${data.length} values are given`);
  }
  const out = allocate(nonzero, count);
  const values = bitsView(data);
  const target = bitsView(out);
  if (values && target) {
    // Branch-free: every position takes the next value or zero, and the mask says which.
    for (let i = 0, next = 0; next < kept; i++) {
      const bit = isSet(mask[i]);
      target[i] = values[next] & -bit;
      next += bit;
    }
  } else {
    for (let i = 0, next = 0; next < kept; i++)
      if (mask[i] !== 0) (out as Float64Array)[i] = (data as Float64Array)[next++];
  }
  return { dtype: nonzero.dtype, shape: [...shape], data: out };
}

/** The elements of `dense` at the set positions of `mask` (`count` of them, if known), in order. */
export function gatherMasked(
  dense: Tensor,
  mask: ArrayLike<number>,
  count = countSet(mask, dense.data.length),
): Tensor {
  const data = dense.data as TypedArray;
  const out = allocate(dense, count);
  const source = bitsView(data);
  const target = bitsView(out);
  let last = data.length - 1;
  while (last >= 0 && mask[last] === 0) last--;
  if (source && target) {
    // Branch-free: every element is written at the next slot, which only set ones advance; up
    // to the last set position no write lands past the end.
    for (let i = 0, next = 0; i <= last; i++) {
      target[next] = source[i];
      next += isSet(mask[i]);
    }
  } else {
    for (let i = 0, next = 0; i <= last; i++)
      if (mask[i] !== 0) (out as Float64Array)[next++] = (data as Float64Array)[i];
  }
  return { dtype: dense.dtype, shape: [count], data: out };
}

/** Set bits per byte value. */
const POPULATION = Uint8Array.from({ length: 256 }, (_, byte) => {
  let count = 0;
  for (let b = byte; b !== 0; b &= b - 1) count++;
  return count;
});

/**
 * `mask` as bits packed into bytes, least significant first (as uint1 blobs store them): the
 * whole bytes covering `length` elements, and the last partial byte with its unused bits
 * cleared.
 */
function maskBytes(mask: Uint8Array, length: number): { whole: number; last: number } {
  const whole = length >> 3;
  if (mask.length < Math.ceil(length / 8)) {
    throw new RangeError(`mask has ${mask.length * 8} bits, shape needs ${length}`);
  }
  return { whole, last: length & 7 ? mask[whole] & ((1 << (length & 7)) - 1) : 0 };
}

/** How many of the first `length` bits of a packed mask are set. */
export function countSetBits(mask: Uint8Array, length: number): number {
  const { whole, last } = maskBytes(mask, length);
  let count = POPULATION[last];
  for (let b = 0; b < whole; b++) count += POPULATION[mask[b]];
  return count;
}

/**
 * `sparseToDense` with the mask packed (one bit per element, least significant first): each
 * mask byte places its values by walking its set bits, so no per-element mask is built.
 */
export function sparseToDenseBits(
  nonzero: Tensor,
  mask: Uint8Array,
  shape: readonly number[],
): Tensor {
  const count = elementCount(shape);
  const { whole, last } = maskBytes(mask, count);
  const data = nonzero.data as TypedArray;
  const kept = countSetBits(mask, count);
  if (kept !== data.length) {
    throw new RangeError(`mask sets ${kept} positions but ${data.length} values are given`);
  }
  const out = allocate(nonzero, count);
  const values = (bitsView(data) ?? data) as Uint16Array;
  const target = (bitsView(out) ?? out) as Uint16Array;
  let next = 0;
  for (let b = 0; b <= whole; b++) {
    let bits = b < whole ? mask[b] : last;
    const base = b << 3;
    while (bits !== 0) {
      const lowest = bits & -bits;
      target[base + 31 - Math.clz32(lowest)] = values[next++];
      bits ^= lowest;
    }
  }
  return { dtype: nonzero.dtype, shape: [...shape], data: out };
}

/** `gatherMasked` with the mask packed as `sparseToDenseBits` takes it. */
export function gatherMaskedBits(
  dense: Tensor,
  mask: Uint8Array,
  count = countSetBits(mask, dense.data.length),
): Tensor {
  const data = dense.data as TypedArray;
  const { whole, last } = maskBytes(mask, data.length);
  const out = allocate(dense, count);
  const source = (bitsView(data) ?? data) as Uint16Array;
  const target = (bitsView(out) ?? out) as Uint16Array;
  let next = 0;
  for (let b = 0; b <= whole && next < count; b++) {
    let bits = b < whole ? mask[b] : last;
    const base = b << 3;
    while (bits !== 0) {
      const lowest = bits & -bits;
      target[next++] = source[base + 31 - Math.clz32(lowest)];
      bits ^= lowest;
    }
  }
  return { dtype: dense.dtype, shape: [count], data: out };
}

/** Repeats every element `times` times along `axis` (as numpy.repeat does). */
export function repeatAlongAxis(tensor: Tensor, axis: number, times: number): Tensor {
  const rank = tensor.shape.length;
  const resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank) throw new RangeError(`axis ${axis} is out of range`);
  const inner = stridesOf(tensor.shape)[resolved];
  const outer = elementCount(tensor.shape) / (inner * tensor.shape[resolved]);
  const source = tensor.data as Uint8Array;
  const out = allocate(tensor, source.length * times) as Uint8Array;
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < tensor.shape[resolved]; k++) {
      const start = (o * tensor.shape[resolved] + k) * inner;
      for (let t = 0; t < times; t++) {
        for (let x = 0; x < inner; x++) out[at++] = source[start + x];
      }
    }
  }
  const shape = tensor.shape.map((d, k) => (k === resolved ? d * times : d));
  return { dtype: tensor.dtype, shape, data: out };
}
