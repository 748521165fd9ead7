/**
 * Sparse weights as a bit mask plus the values of the set positions, in row-major order.
 * Values are copied as stored (fp16 bit patterns included).
 */
import { ELEMENT_TYPES, elementCount, type Tensor, type TypedArray } from "./dtype.js";
import { stridesOf } from "./layout.js";

function allocate(like: Tensor, count: number): TypedArray {
  const ArrayType = ELEMENT_TYPES[like.dtype].array;
  if (!ArrayType) throw new RangeError(`cannot hold ${like.dtype} values`);
  return new ArrayType(count) as TypedArray;
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
  const values = nonzero.data as Uint8Array;
  const out = allocate(nonzero, count) as Uint8Array;
  let next = 0;
  for (let i = 0; i < count; i++) {
    if (mask[i] === 0) continue;
    if (next >= values.length)
      throw new RangeError(`mask sets more than the ${values.length} values given`);
    out[i] = values[next++];
  }
  if (next !== values.length) {
    throw new RangeError(`mask sets ${next} positions but ${values.length} values are given`);
  }
  return { dtype: nonzero.dtype, shape: [...shape], data: out };
}

/** The elements of `dense` at the set positions of `mask`, in order. */
export function gatherMasked(dense: Tensor, mask: ArrayLike<number>): Tensor {
  const source = dense.data as Uint8Array;
  let count = 0;
  for (let i = 0; i < source.length; i++) if (mask[i] !== 0) count++;
  const out = allocate(dense, count) as Uint8Array;
  let next = 0;
  for (let i = 0; i < source.length; i++) if (mask[i] !== 0) out[next++] = source[i];
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
