/**
 * Palettized (look-up table) weights: every element is an index into a table of values.
 * Values are copied as stored (fp16 bit patterns included), so decoding is exact.
 */
import { unpackSubByte } from "./bitpack.js";
import { blockSizes, rowOffsets } from "./block-broadcast.js";
import { stridesOf } from "./ops/shape.js";
import { ELEMENT_TYPES, elementCount, type Tensor, type TypedArray } from "./dtype.js";

function allocate(like: Tensor, count: number): TypedArray {
  const ArrayType = ELEMENT_TYPES[like.dtype].array;
  if (!ArrayType) throw new RangeError(`cannot hold ${like.dtype} values`);
  return new ArrayType(count) as TypedArray;
}

/**
 * iOS16 `constexpr_lut_to_dense`: one table of 2^n values for the whole tensor; the indices are
 * n-bit fields packed into bytes starting at the least significant bit of the first byte.
 */
export function lutToDensePacked(
  packedIndices: Uint8Array,
  lut: Tensor,
  shape: readonly number[],
): Tensor {
  const size = elementCount(lut.shape);
  const bits = Math.log2(size);
  if (lut.shape.length !== 1 || ![1, 2, 4, 6, 8].includes(bits)) {
    throw new RangeError(`lut must be a vector of 2, 4, 16, 64 or 256 values, not [${lut.shape}]`);
  }
  const count = elementCount(shape);
  const expected = Math.ceil((bits * count) / 8);
  if (packedIndices.length !== expected) {
    throw new RangeError(
      `indices hold ${packedIndices.length} bytes, ${bits}-bit indices need ${expected}`,
    );
  }
  const indices = unpackSubByte(packedIndices, bits, count, false);
  const table = lut.data as TypedArray;
  const out = allocate(lut, count);
  for (let i = 0; i < count; i++) (out as Uint8Array)[i] = (table as Uint8Array)[indices[i]];
  return { dtype: lut.dtype, shape: [...shape], data: out };
}

/**
 * iOS18 `constexpr_lut_to_dense`. The table has shape `[...groups, palettes, vectorSize]`, its
 * group dimensions dividing the indices' dimensions (one table per block of indices). With
 * vectors (vectorSize > 1) each index expands to vectorSize consecutive elements along
 * `vectorAxis` of the output.
 */
export function lutToDense(indices: Tensor, lut: Tensor, vectorAxis?: number): Tensor {
  const rank = indices.shape.length;
  if (lut.shape.length !== rank + 2) {
    throw new RangeError(`lut rank ${lut.shape.length} must be the indices' rank ${rank} + 2`);
  }
  const palettes = lut.shape[rank];
  const vectorSize = lut.shape[rank + 1];
  const blocks = blockSizes(indices.shape, lut.shape.slice(0, rank), "lut");
  let axis = 0;
  if (vectorSize > 1) {
    if (vectorAxis === undefined) throw new RangeError("vector_axis is needed with vector tables");
    axis = vectorAxis < 0 ? vectorAxis + rank : vectorAxis;
    if (axis < 0 || axis >= rank) throw new RangeError(`vector_axis ${vectorAxis} is out of range`);
  }
  const outShape = indices.shape.map((d, k) => (vectorSize > 1 && k === axis ? d * vectorSize : d));
  const outStrides = stridesOf(outShape);
  // Output position of an index: its coordinates, the vector axis' scaled by the vector size.
  const indexStrides = outStrides.map((s, k) =>
    vectorSize > 1 && k === axis ? s * vectorSize : s,
  );
  const vectorStride = outStrides[axis];
  const lutStrides = stridesOf(lut.shape);
  const tableRows = rowOffsets(indices.shape, blocks, lutStrides);
  const outRows = rowOffsets(
    indices.shape,
    indices.shape.map(() => 1),
    indexStrides,
  );
  const codes = indices.data as Uint8Array;
  const table = lut.data as Uint8Array;
  const out = allocate(lut, elementCount(outShape)) as Uint8Array;
  const lastSize = indices.shape[rank - 1];
  const lastBlock = blocks[rank - 1];
  const lastTableStride = lutStrides[rank - 1];
  const lastOutStride = indexStrides[rank - 1];
  let i = 0;
  for (let row = 0; row < tableRows.length; row++) {
    for (let j = 0; j < lastSize; j++, i++) {
      const code = codes[i];
      if (code >= palettes) throw new RangeError(`index ${code} is outside a table of ${palettes}`);
      const entry =
        tableRows[row] + Math.floor(j / lastBlock) * lastTableStride + code * vectorSize;
      const at = outRows[row] + j * lastOutStride;
      for (let v = 0; v < vectorSize; v++) out[at + v * vectorStride] = table[entry + v];
    }
  }
  return { dtype: lut.dtype, shape: outShape, data: out };
}
