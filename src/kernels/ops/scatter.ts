/**
 * Scatters (the inverses of the gathers in layout.ts) and the multi-index gather: values of
 * `updates` written into a copy of a container, replacing or accumulating.
 */
import type { Dense } from "./elementwise.js";
import { stridesOf } from "./shape.js";
import { elementCount } from "../dtype.js";

/** How an update meets the value already there. */
export type ScatterMode = "update" | "add" | "sub" | "mul" | "div" | "max" | "min";

const COMBINE: Record<ScatterMode, (old: number, update: number) => number> = {
  update: (_, u) => u,
  add: (a, u) => a + u,
  sub: (a, u) => a - u,
  mul: (a, u) => a * u,
  div: (a, u) => a / u,
  max: Math.max,
  min: Math.min,
};

function wrap(i: number, size: number): number {
  const j = i < 0 ? i + size : i;
  if (!(j >= 0 && j < size)) throw new RangeError(`index ${i} out of range for size ${size}`);
  return j;
}

/**
 * out[..., indices[k], ...] ⊕= updates[..., k, ...] along `axis`: updates has shape
 * container[:axis] + indices + container[axis + 1:].
 */
export function scatter(
  container: Dense,
  indices: Dense,
  updates: Dense,
  axis: number,
  mode: ScatterMode,
): Dense {
  const out = Float32Array.from(container.data);
  const outer = elementCount(container.shape.slice(0, axis));
  const size = container.shape[axis];
  const inner = elementCount(container.shape.slice(axis + 1));
  const count = indices.data.length;
  if (updates.data.length !== outer * count * inner) {
    throw new RangeError(
      `updates [${updates.shape}] do not match [${container.shape}] scattered at [${indices.shape}] along axis ${axis}`,
    );
  }
  const combine = COMBINE[mode];
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < count; k++) {
      const to = (o * size + wrap(indices.data[k], size)) * inner;
      const from = (o * count + k) * inner;
      for (let j = 0; j < inner; j++) out[to + j] = combine(out[to + j], updates.data[from + j]);
    }
  }
  return { shape: [...container.shape], data: out };
}

/** out[..., indices[p], ...] ⊕= updates[p] where indices and updates share a shape. */
export function scatterAlongAxis(
  container: Dense,
  indices: Dense,
  updates: Dense,
  axis: number,
  mode: ScatterMode,
): Dense {
  const out = Float32Array.from(container.data);
  const outer = elementCount(indices.shape.slice(0, axis));
  const count = indices.shape[axis];
  const inner = elementCount(indices.shape.slice(axis + 1));
  const size = container.shape[axis];
  const containerInner = elementCount(container.shape.slice(axis + 1));
  const combine = COMBINE[mode];
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < count; k++) {
      for (let j = 0; j < inner; j++) {
        const p = (o * count + k) * inner + j;
        const to = (o * size + wrap(indices.data[p], size)) * containerInner + j;
        out[to] = combine(out[to], updates.data[p]);
      }
    }
  }
  return { shape: [...container.shape], data: out };
}

/** Offsets into `shape` of the multi-indices in the last axis of `indices`, and the slice size. */
function pointOffsets(
  shape: readonly number[],
  indices: Dense,
): { offsets: number[]; slice: number } {
  const depth = indices.shape[indices.shape.length - 1] ?? 0;
  if (depth > shape.length) {
    throw new RangeError(`indices of depth ${depth} into a rank ${shape.length} tensor`);
  }
  const strides = stridesOf(shape);
  const points = depth === 0 ? 0 : indices.data.length / depth;
  const offsets = Array.from({ length: points }, (_, p) => {
    let offset = 0;
    for (let d = 0; d < depth; d++)
      offset += wrap(indices.data[p * depth + d], shape[d]) * strides[d];
    return offset;
  });
  return { offsets, slice: elementCount(shape.slice(depth)) };
}

/** params[indices[..., :]] for every point: shape indices[:-1] + params[depth:]. */
export function gatherND(params: Dense, indices: Dense): Dense {
  const { offsets, slice } = pointOffsets(params.shape, indices);
  const depth = indices.shape[indices.shape.length - 1];
  const out = new Float32Array(offsets.length * slice);
  offsets.forEach((offset, p) => out.set(params.data.subarray(offset, offset + slice), p * slice));
  return { shape: [...indices.shape.slice(0, -1), ...params.shape.slice(depth)], data: out };
}

/** out[indices[..., :]] ⊕= updates[...] for every point (the inverse of gatherND). */
export function scatterND(
  container: Dense,
  indices: Dense,
  updates: Dense,
  mode: ScatterMode,
): Dense {
  const { offsets, slice } = pointOffsets(container.shape, indices);
  if (updates.data.length !== offsets.length * slice) {
    throw new RangeError(`updates [${updates.shape}] do not match the indices [${indices.shape}]`);
  }
  const out = Float32Array.from(container.data);
  const combine = COMBINE[mode];
  offsets.forEach((offset, p) => {
    for (let j = 0; j < slice; j++) {
      out[offset + j] = combine(out[offset + j], updates.data[p * slice + j]);
    }
  });
  return { shape: [...container.shape], data: out };
}
