/** Data movement kernels: transpose, concat, strided slices, pad, tile, gathers, upsampling. */
import { freshArray, type Allocate, type Dense } from "./elementwise.js";
import { stridesOf } from "./shape.js";
import { elementCount } from "../dtype.js";

export function transpose(
  x: Dense,
  perm: readonly number[],
  allocate: Allocate = freshArray,
): Dense {
  const shape = perm.map((p) => x.shape[p]);
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((p) => inStrides[p]);
  return { shape, data: gatherStrided(x.data, shape, strides, 0, allocate) };
}

/**
 * The axes of a strided read with each axis read as one with the axis after it merged into it
 * (a split's or a slice's whole trailing block), so rows are as long as the source allows.
 */
export function mergeAxes(
  fullShape: readonly number[],
  fullStrides: readonly number[],
): { shape: number[]; strides: number[] } {
  const shape = [fullShape[fullShape.length - 1]];
  const strides = [fullStrides[fullStrides.length - 1]];
  for (let d = fullShape.length - 2; d >= 0; d--) {
    if (fullStrides[d] === shape[0] * strides[0]) shape[0] *= fullShape[d];
    else {
      shape.unshift(fullShape[d]);
      strides.unshift(fullStrides[d]);
    }
  }
  return { shape, strides };
}

/** Reads `fullShape` elements of `src` from `offset` with per-axis `fullStrides` (may be negative). */
function gatherStrided(
  src: Float32Array,
  fullShape: readonly number[],
  fullStrides: readonly number[],
  offset: number,
  allocate: Allocate = freshArray,
): Float32Array {
  const total = elementCount(fullShape);
  const out = allocate(total);
  if (fullShape.length === 0) {
    out[0] = src[offset];
    return out;
  }
  const { shape, strides } = mergeAxes(fullShape, fullStrides);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  const inner = shape[rank - 1];
  const innerStride = strides[rank - 1];
  let base = offset;
  // Rows contiguous in the source (transposes keeping the last axis, splits, slices) are
  // copied whole: a memcpy instead of a loop of element reads, for rows long enough to pay
  // for the view.
  const whole = innerStride === 1 && inner >= 16;
  for (let o = 0; o < total; o += inner) {
    if (whole) out.set(src.subarray(base, base + inner), o);
    else for (let j = 0; j < inner; j++) out[o + j] = src[base + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      base += strides[d];
      if (index[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** x[begin[i] : end[i] : stride[i]] along every axis (begin/end already resolved and clamped). */
export function stridedSlice(
  x: Dense,
  begin: readonly number[],
  size: readonly number[],
  stride: readonly number[],
  allocate: Allocate = freshArray,
): Dense {
  const inStrides = stridesOf(x.shape);
  let offset = 0;
  for (let i = 0; i < begin.length; i++) offset += begin[i] * inStrides[i];
  const strides = inStrides.map((s, i) => s * stride[i]);
  return { shape: [...size], data: gatherStrided(x.data, size, strides, offset, allocate) };
}

export function concat(parts: readonly Dense[], axis: number): Dense {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  const outer = elementCount(shape.slice(0, axis));
  const out = new Float32Array(elementCount(shape));
  const rowOut = elementCount(shape.slice(axis));
  let start = 0;
  for (const p of parts) {
    const row = elementCount(p.shape.slice(axis));
    for (let o = 0; o < outer; o++)
      out.set(p.data.subarray(o * row, (o + 1) * row), o * rowOut + start);
    start += row;
  }
  return { shape, data: out };
}

/** Interleaves the parts along `axis`: one slice of each in turn (MIL concat interleave=True). */
export function interleave(parts: readonly Dense[], axis: number): Dense {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis], 0);
  const outer = elementCount(shape.slice(0, axis));
  const inner = elementCount(shape.slice(axis + 1));
  const steps = parts[0].shape[axis];
  const out = new Float32Array(elementCount(shape));
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < steps; s++) {
      for (const p of parts) {
        out.set(p.data.subarray((o * steps + s) * inner, (o * steps + s + 1) * inner), pos);
        pos += inner;
      }
    }
  }
  return { shape, data: out };
}

export type PadMode = "constant" | "reflect" | "replicate";

/** Pads each axis by [before, after] (negative values crop). */
export function pad(
  x: Dense,
  pads: readonly (readonly [number, number])[],
  mode: PadMode,
  value: number,
): Dense {
  const shape = x.shape.map((s, i) => s + pads[i][0] + pads[i][1]);
  const total = elementCount(shape);
  const out = new Float32Array(total);
  const inStrides = stridesOf(x.shape);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < total; o++) {
    let offset = 0;
    let inside = true;
    for (let d = 0; d < rank; d++) {
      let i = index[d] - pads[d][0];
      const n = x.shape[d];
      if (i < 0 || i >= n) {
        if (mode === "constant") {
          inside = false;
          break;
        }
        if (mode === "replicate") i = i < 0 ? 0 : n - 1;
        else {
          const period = 2 * (n - 1);
          i = period === 0 ? 0 : Math.abs(((i % period) + period) % period);
          if (i >= n) i = period - i;
        }
      }
      offset += i * inStrides[d];
    }
    out[o] = inside ? x.data[offset] : value;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return { shape, data: out };
}

export function tile(x: Dense, reps: readonly number[]): Dense {
  const shape = x.shape.map((s, i) => s * reps[i]);
  const inStrides = stridesOf(x.shape);
  const total = elementCount(shape);
  const out = new Float32Array(total);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < total; o++) {
    let offset = 0;
    for (let d = 0; d < shape.length; d++) offset += (index[d] % x.shape[d]) * inStrides[d];
    out[o] = x.data[offset];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return { shape, data: out };
}

function wrapIndex(i: number, size: number): number {
  const j = i < 0 ? i + size : i;
  if (j < 0 || j >= size) throw new RangeError(`index ${i} out of range for size ${size}`);
  return j;
}

/** Takes slices of x along `axis` at `indices`, with `batchDims` leading axes shared. */
export function gather(x: Dense, indices: Dense, axis: number, batchDims: number): Dense {
  const batch = elementCount(x.shape.slice(0, batchDims));
  const outer = elementCount(x.shape.slice(batchDims, axis));
  const size = x.shape[axis];
  const inner = elementCount(x.shape.slice(axis + 1));
  const perBatch = indices.data.length / batch;
  const shape = [
    ...x.shape.slice(0, axis),
    ...indices.shape.slice(batchDims),
    ...x.shape.slice(axis + 1),
  ];
  const out = new Float32Array(elementCount(shape));
  let pos = 0;
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      const base = (b * outer + o) * size * inner;
      for (let k = 0; k < perBatch; k++) {
        const i = wrapIndex(indices.data[b * perBatch + k], size);
        out.set(x.data.subarray(base + i * inner, base + (i + 1) * inner), pos);
        pos += inner;
      }
    }
  }
  return { shape, data: out };
}

/** out[..., j, ...] = x[..., indices[..., j, ...], ...] along `axis` (indices has x's rank). */
export function gatherAlongAxis(x: Dense, indices: Dense, axis: number): Dense {
  const shape = [...indices.shape];
  const outer = elementCount(shape.slice(0, axis));
  const inner = elementCount(shape.slice(axis + 1));
  const count = shape[axis];
  const size = x.shape[axis];
  const xInner = elementCount(x.shape.slice(axis + 1));
  const out = new Float32Array(elementCount(shape));
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < count; k++) {
      for (let j = 0; j < inner; j++) {
        const p = (o * count + k) * inner + j;
        const i = wrapIndex(indices.data[p], size);
        out[p] = x.data[(o * size + i) * xInner + j];
      }
    }
  }
  return { shape, data: out };
}

/** Nearest-neighbour upsampling of the last two axes to [outH, outW]: source = floor(dst / scale). */
export function upsampleNearest(
  x: Dense,
  outH: number,
  outW: number,
  scaleH: number,
  scaleW: number,
): Dense {
  const h = x.shape[x.shape.length - 2];
  const w = x.shape[x.shape.length - 1];
  const planes = x.data.length / (h * w);
  const out = new Float32Array(planes * outH * outW);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < outH; y++) {
      const sy = Math.min(h - 1, Math.floor(y / scaleH));
      for (let xo = 0; xo < outW; xo++) {
        const sx = Math.min(w - 1, Math.floor(xo / scaleW));
        out[(p * outH + y) * outW + xo] = x.data[(p * h + sy) * w + sx];
      }
    }
  }
  return { shape: [...x.shape.slice(0, -2), outH, outW], data: out };
}
