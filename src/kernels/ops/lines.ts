/**
 * Kernels that work along the lines of one axis: reversal, sorting (top-k, argsort),
 * cumulative sums and one-hot encoding.
 */
import type { Dense } from "./elementwise.js";
import { stridesOf } from "./shape.js";
import { elementCount } from "../dtype.js";

/** Calls `visit(base, stride, length)` for every line of `shape` along `axis`. */
export function forEachLine(
  shape: readonly number[],
  axis: number,
  visit: (base: number, stride: number, length: number) => void,
): void {
  const stride = stridesOf(shape)[axis];
  const length = shape[axis];
  const outer = elementCount(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let inner = 0; inner < stride; inner++) visit(o * length * stride + inner, stride, length);
  }
}

/** x with the order of each listed axis reversed. */
export function reverseAxes(x: Dense, axes: readonly number[]): Dense {
  let data = Float32Array.from(x.data);
  for (const axis of axes) {
    const next = new Float32Array(data.length);
    forEachLine(x.shape, axis, (base, stride, length) => {
      for (let k = 0; k < length; k++)
        next[base + k * stride] = data[base + (length - 1 - k) * stride];
    });
    data = next;
  }
  return { shape: [...x.shape], data };
}

/**
 * The k largest (or smallest) values along `axis` in order, and their indices; among equal
 * values the lower index comes first.
 */
export function topK(
  x: Dense,
  axis: number,
  k: number,
  ascending: boolean,
): { values: Dense; indices: Dense } {
  const shape = x.shape.map((d, i) => (i === axis ? k : d));
  const values = new Float32Array(elementCount(shape));
  const indices = new Float32Array(values.length);
  const outStride = stridesOf(shape)[axis];
  let line = 0;
  forEachLine(x.shape, axis, (base, stride, length) => {
    const order = Array.from({ length }, (_, i) => i);
    // A stable sort keeps the lower index first among equal values.
    order.sort((a, b) => {
      const d = x.data[base + a * stride] - x.data[base + b * stride];
      return ascending ? d : -d;
    });
    const outer = Math.floor(line / outStride);
    const outBase = outer * k * outStride + (line % outStride);
    for (let j = 0; j < k; j++) {
      values[outBase + j * outStride] = x.data[base + order[j] * stride];
      indices[outBase + j * outStride] = order[j];
    }
    line++;
  });
  return { values: { shape, data: values }, indices: { shape, data: indices } };
}

/** Running sums along `axis`; `exclusive` leaves each element out of its own sum. */
export function cumulativeSum(
  x: Dense,
  axis: number,
  exclusive: boolean,
  backwards: boolean,
): Dense {
  const out = new Float32Array(x.data.length);
  forEachLine(x.shape, axis, (base, stride, length) => {
    let sum = 0;
    for (let n = 0; n < length; n++) {
      const k = backwards ? length - 1 - n : n;
      const at = base + k * stride;
      if (exclusive) {
        out[at] = sum;
        sum += x.data[at];
      } else {
        sum += x.data[at];
        out[at] = sum;
      }
    }
  });
  return { shape: [...x.shape], data: out };
}

/** One-hot vectors of `depth` inserted at `axis` of the output; indices outside give `off`. */
export function oneHot(
  indices: Dense,
  depth: number,
  axis: number,
  on: number,
  off: number,
): Dense {
  const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
  const inner = elementCount(indices.shape.slice(axis));
  const out = new Float32Array(elementCount(shape)).fill(off);
  indices.data.forEach((value, i) => {
    if (value < 0 || value >= depth) return;
    const outer = Math.floor(i / inner);
    out[(outer * depth + value) * inner + (i % inner)] = on;
  });
  return { shape, data: out };
}
