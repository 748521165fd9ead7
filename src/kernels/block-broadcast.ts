/**
 * Row-major layout arithmetic shared by kernels that broadcast small parameter tensors (scales,
 * lookup tables) over blocks of a larger tensor.
 */

/**
 * For each row of `shape` (every position of all but the last dimension, in row-major order),
 * the sum over those dimensions of `floor(coordinate / blocks[d]) * strides[d]`. Kernels add the
 * last dimension's share themselves, which keeps their inner loops free of divisions by rank.
 */
export function rowOffsets(
  shape: readonly number[],
  blocks: readonly number[],
  strides: readonly number[],
): Float64Array {
  const outer = shape.length - 1;
  let rows = 1;
  for (let d = 0; d < outer; d++) rows *= shape[d];
  const offsets = new Float64Array(rows);
  const coordinate = new Array<number>(Math.max(outer, 0)).fill(0);
  let offset = 0;
  for (let row = 0; row < rows; row++) {
    offsets[row] = offset;
    // Advance the odometer, updating the offset only where a block boundary is crossed.
    for (let d = outer - 1; d >= 0; d--) {
      const before = Math.floor(coordinate[d] / blocks[d]);
      if (++coordinate[d] < shape[d]) {
        offset += (Math.floor(coordinate[d] / blocks[d]) - before) * strides[d];
        break;
      }
      coordinate[d] = 0;
      offset -= before * strides[d];
    }
  }
  return offsets;
}

/** Block size along each dimension when `param` is spread evenly over `data`. */
export function blockSizes(
  data: readonly number[],
  param: readonly number[],
  what: string,
): number[] {
  if (data.length !== param.length) {
    throw new RangeError(
      `${what}: rank ${param.length} does not match the data's rank ${data.length}`,
    );
  }
  return data.map((size, d) => {
    if (param[d] <= 0 || size % param[d] !== 0) {
      throw new RangeError(
        `${what}: dimension ${d} of size ${param[d]} does not divide the data's size ${size}`,
      );
    }
    return size / param[d];
  });
}
