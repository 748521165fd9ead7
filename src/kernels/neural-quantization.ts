/**
 * Numerics of neural-network weight quantization (the `.mlmodel` format): per-channel linear
 * quantization, look-up tables, and the bit packing of quantized indices in `rawValue`.
 *
 * A weight tensor of shape [d0, d1, ...] is quantized per channel along axis 0 (axis 1 for
 * deconvolution kernels); rank-1 tensors form a single channel. Arithmetic is float64, rounding
 * is half to even, matching coremltools so that outputs agree bit for bit.
 */
import { elementCount } from "./dtype.js";
import { roundHalfEven } from "./rounding.js";

/**
 * Packs n-bit indices most significant bit first: the first index fills the top bits of the
 * first byte. The stream is zero-padded to whole bytes (at least one byte).
 */
export function packBitsMsbFirst(indices: ArrayLike<number>, nbits: number): Uint8Array {
  if (nbits === 8) return Uint8Array.from(indices);
  const out = new Uint8Array(Math.max(1, Math.ceil((indices.length * nbits) / 8)));
  let bit = 0;
  for (let i = 0; i < indices.length; i++) {
    const value = indices[i];
    for (let b = nbits - 1; b >= 0; b--, bit++) {
      if ((value >> b) & 1) out[bit >> 3] |= 0x80 >> (bit & 7);
    }
  }
  return out;
}

/** Reads `count` n-bit indices packed by `packBitsMsbFirst`. */
export function unpackBitsMsbFirst(bytes: Uint8Array, nbits: number, count: number): Uint8Array {
  if (bytes.length * 8 < count * nbits) {
    throw new RangeError(`${bytes.length} bytes hold fewer than ${count} ${nbits}-bit values`);
  }
  if (nbits === 8) return bytes.slice(0, count);
  const out = new Uint8Array(count);
  let bit = 0;
  for (let i = 0; i < count; i++) {
    let value = 0;
    for (let b = 0; b < nbits; b++, bit++) {
      value = (value << 1) | ((bytes[bit >> 3] >> (7 - (bit & 7))) & 1);
    }
    out[i] = value;
  }
  return out;
}

/** How the elements of a weight tensor map to quantization channels. */
export interface ChannelLayout {
  shape: readonly number[];
  /** 0, or 1 for rank-4 deconvolution kernels whose output channels are the second axis. */
  axis: 0 | 1;
}

export function channelCount({ shape, axis }: ChannelLayout): number {
  return shape.length <= 1 ? 1 : shape[axis];
}

/** The channel of every element, in row-major order. */
export function channelIndices(layout: ChannelLayout): Uint32Array {
  const { shape, axis } = layout;
  const count = elementCount(shape);
  const out = new Uint32Array(count);
  if (shape.length <= 1) return out;
  const inner = elementCount(shape.slice(axis + 1));
  const channels = shape[axis];
  for (let i = 0; i < count; i++) out[i] = Math.floor(i / inner) % channels;
  return out;
}

export interface LinearQuantization {
  indices: Uint8Array;
  /** Per channel: value ≈ scale · index + bias. */
  scale: Float64Array;
  bias: Float64Array;
}

/**
 * Per-channel linear quantization to `nbits`-bit unsigned indices. Asymmetric mode maps
 * [min, max] of each channel onto [0, 2^n − 1]; symmetric mode maps [−r, r] (r = max |w|) onto
 * [1, 2^n − 1] around a zero at 2^(n−1). Channels whose scale is at most 1e-6 quantize to 0.
 */
export function quantizeLinear(
  weights: ArrayLike<number>,
  layout: ChannelLayout,
  nbits: number,
  symmetric: boolean,
): LinearQuantization {
  const channels = channelCount(layout);
  const channelOf = channelIndices(layout);
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < weights.length; i++) {
    const c = channelOf[i];
    if (weights[i] < min[c]) min[c] = weights[i];
    if (weights[i] > max[c]) max[c] = weights[i];
  }
  const levels = 2 ** nbits;
  const scale = new Float64Array(channels);
  const bias = new Float64Array(channels);
  const inverse = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    if (symmetric) {
      scale[c] = Math.max(Math.abs(min[c]), Math.abs(max[c])) / (levels / 2 - 1);
      bias[c] = (-levels / 2) * scale[c];
    } else {
      scale[c] = (max[c] - min[c]) / (levels - 1);
      bias[c] = min[c];
      inverse[c] = Math.abs(scale[c]) > 1e-6 ? 1 / scale[c] : 0;
    }
  }
  const indices = new Uint8Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const c = channelOf[i];
    const q = symmetric
      ? Math.abs(scale[c]) > 1e-6
        ? (weights[i] - bias[c]) / scale[c]
        : 0
      : (weights[i] - min[c]) * inverse[c];
    indices[i] = roundHalfEven(q);
  }
  return { indices, scale, bias };
}

/** value = scale[c] · index + bias[c]; a single scale/bias pair applies to every channel. */
export function dequantizeLinear(
  indices: ArrayLike<number>,
  scale: ArrayLike<number>,
  bias: ArrayLike<number>,
  layout: ChannelLayout,
): Float32Array {
  const out = new Float32Array(indices.length);
  if (scale.length === 1 && bias.length === 1) {
    for (let i = 0; i < indices.length; i++) out[i] = indices[i] * scale[0] + bias[0];
    return out;
  }
  const channelOf = channelIndices(layout);
  for (let i = 0; i < indices.length; i++) {
    const c = channelOf[i];
    out[i] = indices[i] * scale[c] + bias[c];
  }
  return out;
}

export function dequantizeLut(indices: ArrayLike<number>, lut: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = lut[indices[i]];
  return out;
}

export interface LookupTableQuantization {
  /** 2^nbits entries. */
  lut: Float64Array;
  indices: Uint8Array;
}

/** A table of 2^n evenly spaced values from min to max, indices from linear quantization. */
export function linearLookupTable(
  weights: ArrayLike<number>,
  nbits: number,
): LookupTableQuantization {
  const { indices, scale, bias } = quantizeLinear(
    weights,
    { shape: [weights.length], axis: 0 },
    nbits,
    false,
  );
  const lut = new Float64Array(2 ** nbits);
  for (let i = 0; i < lut.length; i++) lut[i] = i * scale[0] + bias[0];
  return { lut, indices };
}

/** Index of the entry of `table` nearest to each value (first one on ties). */
export function nearestEntries(values: ArrayLike<number>, table: ArrayLike<number>): Uint8Array {
  const order = Array.from({ length: table.length }, (_, i) => i).sort(
    (a, b) => table[a] - table[b] || a - b,
  );
  const sorted = Float64Array.from(order, (i) => table[i]);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    const pick = lo > 0 && v - sorted[lo - 1] <= sorted[lo] - v ? lo - 1 : lo;
    out[i] = order[pick];
  }
  return out;
}
