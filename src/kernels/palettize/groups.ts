/**
 * Where the points of each palettization group sit in a weight tensor, and how the results map
 * back to the iOS18 `constexpr_lut_to_dense` layout.
 *
 * Groups are runs of `groupSize` channels along `channelAxis`. Within a group, points are taken
 * in the order coremltools uses (channel axis swapped to the front, row-major), so custom
 * functions see the same data. A vector point gathers `clusterDim` consecutive channels.
 */
import { elementCount } from "../dtype.js";

export interface GroupLayout {
  shape: readonly number[];
  channelAxis: number;
  groupSize: number;
  groupCount: number;
  clusterDim: number;
  /** Shape of the indices: the weight's, with the channel axis divided by clusterDim. */
  indicesShape: number[];
}

/** The layout, or why the weight cannot be split that way. */
export function groupLayout(
  shape: readonly number[],
  channelAxis: number,
  groupSize: number,
  clusterDim: number,
): GroupLayout | { reason: string } {
  const channels = shape[channelAxis];
  const size = groupSize === 0 ? channels : groupSize;
  if (channels % size !== 0) {
    return {
      reason: `${channels} channels on axis ${channelAxis} are not divisible by group size ${size}`,
    };
  }
  if (size % clusterDim !== 0) {
    return {
      reason: `group size ${size} on axis ${channelAxis} is not divisible by cluster_dim ${clusterDim}`,
    };
  }
  const indicesShape = [...shape];
  indicesShape[channelAxis] /= clusterDim;
  return {
    shape,
    channelAxis,
    groupSize: size,
    groupCount: channels / size,
    clusterDim,
    indicesShape,
  };
}

/** LUT shape: rank + 2, the group count on the channel axis, then entries and clusterDim. */
export function lutShape(layout: GroupLayout, nbits: number): number[] {
  const shape = layout.shape.map(() => 1);
  shape[layout.channelAxis] = layout.groupCount;
  return [...shape, 1 << nbits, layout.clusterDim];
}

/**
 * For each position of the tensor with axes 0 and `axis` swapped (row-major), the flat index of
 * the same element in the original tensor.
 */
function swappedOrder(shape: readonly number[], axis: number): Uint32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  const dims = [...shape];
  const steps = [...strides];
  [dims[0], dims[axis]] = [dims[axis], dims[0]];
  [steps[0], steps[axis]] = [steps[axis], steps[0]];
  const order = new Uint32Array(elementCount(shape));
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let p = 0; p < order.length; p++) {
    order[p] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      offset += steps[d];
      if (counter[d] < dims[d]) break;
      offset -= steps[d] * dims[d];
      counter[d] = 0;
    }
  }
  return order;
}

/** The flat index, in the original tensor, of each group position (point-major, then vector element). */
function gatherOrder(layout: GroupLayout): Uint32Array | undefined {
  const { shape, channelAxis, clusterDim } = layout;
  if (channelAxis === 0 && clusterDim === 1) return undefined; // already in group order
  const swapped = channelAxis === 0 ? undefined : swappedOrder(shape, channelAxis);
  const channels = shape[channelAxis];
  const rest = elementCount(shape) / channels;
  const order = new Uint32Array(elementCount(shape));
  let q = 0;
  // Point (c', r) holds swapped positions (c'·clusterDim + j)·rest + r, j < clusterDim.
  for (let c = 0; c < channels / clusterDim; c++) {
    for (let r = 0; r < rest; r++) {
      for (let j = 0; j < clusterDim; j++) {
        const position = (c * clusterDim + j) * rest + r;
        order[q++] = swapped ? swapped[position] : position;
      }
    }
  }
  return order;
}

/**
 * The weight's values rearranged into group order (see GroupLayout), in a new array of their
 * type (or `values` itself when already in that order).
 */
export function gatherGroups<T extends Float64Array | Float32Array | Uint16Array>(
  layout: GroupLayout,
  values: T,
): T {
  const { shape, channelAxis, clusterDim } = layout;
  const make = (n: number) => new (values.constructor as new (length: number) => T)(n);
  if (channelAxis === 0 && clusterDim > 1) {
    // Vectors across the leading channels: interleave runs of clusterDim rows, no order table.
    const out = make(values.length);
    const rest = elementCount(shape) / shape[0];
    if (clusterDim === 2) {
      for (let c = 0, q = 0; c < shape[0]; c += 2) {
        for (let r = 0, at = c * rest; r < rest; r++, at++, q += 2) {
          out[q] = values[at];
          out[q + 1] = values[at + rest];
        }
      }
      return out;
    }
    for (let c = 0, q = 0; c < shape[0]; c += clusterDim) {
      for (let r = 0; r < rest; r++) {
        for (let j = 0, at = c * rest + r; j < clusterDim; j++, at += rest) out[q++] = values[at];
      }
    }
    return out;
  }
  const order = gatherOrder(layout);
  if (!order) return values;
  const out = make(values.length);
  for (let i = 0; i < order.length; i++) out[i] = values[order[i]];
  return out;
}

/** Indices computed per point (group order) placed in the row-major indices tensor. */
export function scatterIndices(layout: GroupLayout, indices: Uint8Array): Uint8Array {
  if (layout.channelAxis === 0) return indices; // points are already row-major
  const order = swappedOrder(layout.indicesShape, layout.channelAxis);
  const out = new Uint8Array(indices.length);
  for (let i = 0; i < order.length; i++) out[order[i]] = indices[i];
  return out;
}

/**
 * Per-channel scales as coremltools computes them for palettization: the largest magnitude
 * along the channel axis (that axis reduced to 1), zeros replaced by one. `round` rounds each
 * result to the weight's element type.
 */
export function perChannelScale(
  values: Float64Array,
  shape: readonly number[],
  channelAxis: number,
  round: (x: number) => number,
): { scale: Float64Array; scaleShape: number[]; normalized: Float64Array } {
  const channels = shape[channelAxis];
  let inner = 1;
  for (let d = channelAxis + 1; d < shape.length; d++) inner *= shape[d];
  const outer = values.length / (channels * inner);
  const scale = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const magnitude = Math.abs(values[base + i]);
        if (magnitude > scale[o * inner + i]) scale[o * inner + i] = magnitude;
      }
    }
  }
  for (let s = 0; s < scale.length; s++) if (scale[s] === 0) scale[s] = 1;
  const normalized = new Float64Array(values.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        normalized[base + i] = round(values[base + i] / scale[o * inner + i]);
      }
    }
  }
  const scaleShape = [...shape];
  scaleShape[channelAxis] = 1;
  return { scale, scaleShape, normalized };
}

/** Repeats `data` of shape `from` along axes where `to` is larger (each a multiple). */
export function broadcastTo(
  data: Float64Array,
  from: readonly number[],
  to: readonly number[],
): Float64Array {
  const out = new Float64Array(elementCount(to));
  const rank = to.length;
  const fromStrides = new Array<number>(rank);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    fromStrides[d] = stride;
    stride *= from[d];
  }
  const counter = new Array<number>(rank).fill(0);
  for (let p = 0; p < out.length; p++) {
    let source = 0;
    for (let d = 0; d < rank; d++) {
      source += Math.floor(counter[d] / (to[d] / from[d])) * fromStrides[d];
    }
    out[p] = data[source];
    for (let d = rank - 1; d >= 0; d--) {
      if (++counter[d] < to[d]) break;
      counter[d] = 0;
    }
  }
  return out;
}

/** Each element's squared per-channel scale (scales are shared along the channel axis). */
export function squaredScales(
  scale: Float64Array,
  shape: readonly number[],
  channelAxis: number,
): Float64Array {
  let inner = 1;
  for (let d = channelAxis + 1; d < shape.length; d++) inner *= shape[d];
  const channels = shape[channelAxis];
  const out = new Float64Array(scale.length * channels);
  for (let p = 0; p < out.length; p++) {
    const outer = Math.floor(p / (channels * inner));
    const s = scale[outer * inner + (p % inner)];
    out[p] = s * s;
  }
  return out;
}
