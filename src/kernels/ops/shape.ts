/** Shape arithmetic shared by the tensor kernels: strides, broadcasting, axis normalization. */
import { elementCount } from "../dtype.js";

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

/**
 * The shape a reshape of `input` to `requested` gives: 0 keeps the input's dimension at that
 * position, one −1 takes what is left; undefined when the element counts differ.
 */
export function reshapeTarget(
  input: readonly number[],
  requested: readonly number[],
): number[] | undefined {
  const count = elementCount(input);
  const shape = requested.map((d, i) => (d === 0 && i < input.length ? input[i] : d));
  const unknown = shape.indexOf(-1);
  if (unknown >= 0) {
    const known = shape.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    shape[unknown] = known === 0 ? 0 : count / known;
  }
  return elementCount(shape) === count && shape.every((d) => Number.isInteger(d) && d >= 0)
    ? shape
    : undefined;
}

/**
 * Python's slice(start, stop, step).indices(size) as a start and an element count; null
 * bounds are open.
 */
export function resolveSlice(
  size: number,
  start: number | null,
  stop: number | null,
  step: number,
): [number, number] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const wrap = (v: number) => (v < 0 ? v + size : v);
  let begin: number;
  let end: number;
  if (step > 0) {
    begin = start === null ? 0 : clamp(wrap(start), 0, size);
    end = stop === null ? size : clamp(wrap(stop), 0, size);
  } else {
    begin = start === null ? size - 1 : clamp(wrap(start), -1, size - 1);
    end = stop === null ? -1 : clamp(wrap(stop), -1, size - 1);
  }
  return [begin, Math.max(0, Math.ceil((end - begin) / step))];
}
