/** Shape arithmetic shared by the tensor kernels: strides, broadcasting, axis normalization. */

/** Row-major strides of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= shape[i];
  }
  return strides;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** An axis counted from the end when negative, checked against `rank`. */
export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1))
    throw new RangeError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** The numpy broadcast of two shapes, or an error naming both. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new RangeError(`shapes [${a.join(",")}] and [${b.join(",")}] do not broadcast`);
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/**
 * Strides to read an operand of shape `shape` as if broadcast to `target`: 0 along broadcast
 * dimensions.
 */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = target.length - shape.length;
  return target.map((_, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}
