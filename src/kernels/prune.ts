/**
 * Weight pruning kernels: which elements of an fp16 or fp32 weight become zero under threshold,
 * magnitude (optionally block-structured) and n:m pruning, following coremltools' rules exactly
 * (including where numpy rounds intermediate results to the weight's own precision), and the
 * sparse form of the result: a 0/1 mask plus the values the mask keeps.
 */
import { UnsupportedError } from "../errors.js";
import { elementCount, type Tensor } from "./dtype.js";
import {
  doubleToHalf,
  floatToHalf,
  halfToFloat,
  halfToFloatArray,
  halfValueTable,
} from "./fp16.js";
import { SimdHalfPruner } from "./prune-simd.js";
import { snrDb } from "./snr.js";

/** A weight that pruning can handle. fp16 data holds raw half patterns. */
export type PrunableTensor = Tensor & {
  readonly dtype: "fp16" | "fp32";
  readonly data: Uint16Array | Float32Array;
};

/** A pruned weight: which elements are stored, and the stored values in order. */
export interface SparseWeight {
  /** One bit per element (1 = stored), element i at bit i % 8 of byte i / 8 (as blobs pack). */
  readonly mask: Uint8Array;
  /** Values where the mask is 1, in the weight's own type (raw half patterns for fp16). */
  readonly nonzeroData: Uint16Array | Float32Array;
}

/** Either the pruned weight, or why coremltools would leave this weight dense. */
export type PruneResult =
  | {
      readonly kind: "sparse";
      readonly weight: SparseWeight;
      /** The dense weight against its pruned form (always set by `prune`). */
      readonly snrDb?: number;
    }
  | { readonly kind: "skipped"; readonly reason: string };

export function isPrunable(tensor: Tensor): tensor is PrunableTensor {
  return tensor.dtype === "fp16" || tensor.dtype === "fp32";
}

/** Arithmetic in the weight's precision: numpy rounds every fp16/fp32 operation's result. */
interface Precision {
  round(value: number): number;
}
const FP32: Precision = { round: Math.fround };
const FP16: Precision = {
  // An fp16 operation is computed in float32 and rounded to half; both steps round correctly
  // for a single +, -, *, / or sqrt of half operands, so rounding the exact result suffices.
  round: (value) => halfToFloat(floatToHalf(value)),
};

/** The half value nearest to a double, as numpy converts a scalar operand. */
function doubleToHalfValue(value: number): number {
  return halfToFloat(doubleToHalf(value));
}

function precisionOf(weight: PrunableTensor): Precision {
  return weight.dtype === "fp16" ? FP16 : FP32;
}

/** A Python float converted to the weight's type, as numpy converts a scalar operand. */
function scalarIn(weight: PrunableTensor, value: number): number {
  return weight.dtype === "fp16" ? doubleToHalfValue(value) : Math.fround(value);
}

/** The weight's values as numbers (halves decoded exactly). */
function valuesOf(weight: PrunableTensor): Float32Array {
  return weight.dtype === "fp16"
    ? halfToFloatArray(weight.data as Uint16Array)
    : (weight.data as Float32Array);
}

/**
 * Sparse form of `weight` with the elements flagged in `pruned` multiplied by zero (so a
 * pruned NaN or infinity stays non-zero, as in coremltools) and every zero left out.
 */
function sparsify(weight: PrunableTensor, values: Float32Array, pruned: Uint8Array): SparseWeight {
  const count = values.length;
  const mask = new Uint8Array(Math.ceil(count / 8));
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const value = pruned[i] ? values[i] * 0 : values[i];
    if (value !== 0) {
      mask[i >> 3] |= 1 << (i & 7);
      kept++;
    }
  }
  const nonzeroData = weight.dtype === "fp16" ? new Uint16Array(kept) : new Float32Array(kept);
  for (let i = 0, j = 0; i < count; i++) {
    if (!((mask[i >> 3] >> (i & 7)) & 1)) continue;
    if (!pruned[i]) nonzeroData[j++] = weight.data[i];
    else nonzeroData[j++] = weight.dtype === "fp16" ? floatToHalf(NaN) : NaN;
  }
  return { mask, nonzeroData };
}

/**
 * Zeroes every element with |w| <= threshold (the threshold rounded to the weight's type);
 * skipped when the resulting fraction of zeros is below `minimumSparsityPercentile`.
 */
export function pruneByThreshold(
  weight: PrunableTensor,
  threshold: number,
  minimumSparsityPercentile: number,
): PruneResult {
  const values = valuesOf(weight);
  const limit = scalarIn(weight, threshold);
  const pruned = new Uint8Array(values.length);
  let zeros = 0;
  for (let i = 0; i < values.length; i++) {
    if (Math.abs(values[i]) <= limit) pruned[i] = 1;
    if (pruned[i] || values[i] === 0) zeros++;
  }
  const sparsity = zeros / values.length;
  if (sparsity < minimumSparsityPercentile) {
    return {
      kind: "skipped",
      reason: `sparsity ${sparsity} < minimum_sparsity_percentile ${minimumSparsityPercentile}`,
    };
  }
  return { kind: "sparse", weight: sparsify(weight, values, pruned) };
}

/**
 * The k-th smallest (0-based) of non-negative floats, NaN sorting last: a two-pass radix
 * select on the float32 bit patterns, whose integer order is the numeric order.
 */
export function kthSmallest(values: Float32Array, k: number): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const histogram = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) histogram[(bits[i] & 0x7fffffff) >>> 16]++;
  let high = 0;
  let before = 0;
  while (before + histogram[high] <= k) before += histogram[high++];
  histogram.fill(0);
  for (let i = 0; i < bits.length; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key >>> 16 === high) histogram[key & 0xffff]++;
  }
  let low = 0;
  while (before + histogram[low] <= k) before += histogram[low++];
  const result = new Float32Array(new Uint32Array([((high << 16) | low) >>> 0]).buffer);
  return result[0];
}

/**
 * numpy's default ("linear") percentile of `n` non-negative magnitudes for a Python-float `q` in
 * (0, 100): the two neighbouring order statistics interpolated in the magnitudes' precision.
 */
function percentile(
  n: number,
  kthSmallestOf: (k: number) => number,
  q: number,
  precision: Precision,
): number {
  const virtualIndex = (n - 1) * (q / 100);
  if (virtualIndex >= n - 1) return kthSmallestOf(n - 1);
  const previousIndex = Math.floor(virtualIndex);
  const lower = kthSmallestOf(previousIndex);
  const upper = kthSmallestOf(previousIndex + 1);
  if (Number.isNaN(upper)) return NaN;
  const gamma = virtualIndex - previousIndex;
  const { round } = precision;
  const toPrecision = precision === FP16 ? doubleToHalfValue : Math.fround;
  const difference = round(upper - lower);
  if (gamma >= 0.5) return round(upper - round(difference * toPrecision(1 - gamma)));
  return round(lower + round(difference * toPrecision(gamma)));
}

function absolute(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.abs(values[i]);
  return out;
}

/**
 * `pruneByMagnitude` of an fp16 weight without block sparsity, worked on the half patterns:
 * a magnitude is a pattern's low 15 bits, whose integer order is the numeric order (NaNs
 * last), so one histogram gives every order statistic and no values need decoding.
 */
function pruneHalvesByMagnitude(
  bits: Uint16Array,
  targetSparsity: number,
): { weight: SparseWeight; snrDb?: number } {
  const q = targetSparsity * 100;
  // Magnitude patterns up to this one are pruned (-1: none).
  let limitKey = q === 100 ? 0xffff : -1;
  let histogram: Uint32Array | undefined;
  if (q !== 0 && q !== 100) {
    histogram = new Uint32Array(0x8000);
    for (let i = 0; i < bits.length; i++) histogram[bits[i] & 0x7fff]++;
    const kthSmallestOf = (k: number) => {
      let key = 0;
      for (let before = 0; before + histogram![key] <= k; key++) before += histogram![key];
      return halfToFloat(key);
    };
    const limit = percentile(bits.length, kthSmallestOf, q, FP16);
    if (!Number.isNaN(limit)) limitKey = floatToHalf(limit) & 0x7fff;
  }
  const mask = new Uint8Array(Math.ceil(bits.length / 8));
  // Room for every value; the kept ones are copied out at the end.
  const data = new Uint16Array(bits.length);
  const prunedNaN = floatToHalf(NaN);
  const { done, kept } = HALF_PRUNER?.sparsify(bits, limitKey, prunedNaN, mask, data) ?? {
    done: 0,
    kept: 0,
  };
  const total = sparsifyHalves(bits, limitKey, prunedNaN, done, mask, data, kept);
  const weight = { mask, nonzeroData: data.slice(0, total) };
  return histogram ? { weight, snrDb: histogramSnrDb(histogram, limitKey) } : { weight };
}

/** The pruning's SNR from the magnitude histogram: patterns up to `limitKey` are the noise. */
function histogramSnrDb(histogram: Uint32Array, limitKey: number): number {
  const value = halfValueTable();
  let signal = 0;
  let noise = 0;
  for (let key = 0; key < histogram.length; key++) {
    if (histogram[key] === 0) continue; // also keeps absent infinities out
    const energy = histogram[key] * value[key] * value[key];
    signal += energy;
    if (key <= limitKey) noise += energy;
  }
  return snrDb(signal, noise);
}

/** WebAssembly SIMD for sparsifyHalves, where available. */
const HALF_PRUNER = SimdHalfPruner.load();

/**
 * Elements `from`.. (from a multiple of 8) of a magnitude-pruned fp16 weight: their mask bits,
 * and their kept values appended to `data` after the first `kept`; returns the new count.
 * Random weights make branches unpredictable: the loop computes with bits instead.
 */
function sparsifyHalves(
  bits: Uint16Array,
  limitKey: number,
  prunedNaN: number,
  from: number,
  mask: Uint8Array,
  data: Uint16Array,
  kept: number,
): number {
  for (let i = from; i < bits.length; i++) {
    const value = bits[i];
    const key = value & 0x7fff;
    const unpruned = ((limitKey - key) >> 31) & 1;
    const nonzero = (key + 0x7fff) >> 15;
    // A pruned weight is multiplied by zero: only infinities and NaNs (key >= 0x7c00) stay.
    const special = (key + 0x400) >> 15;
    const keep = (unpruned & nonzero) | ((unpruned ^ 1) & special);
    mask[i >> 3] |= keep << (i & 7);
    // Written at every step; only kept elements advance (pruned ones become NaN).
    data[kept] = value ^ ((value ^ prunedNaN) & -(unpruned ^ 1));
    kept += keep;
  }
  return kept;
}

export interface BlockSparsity {
  /** Consecutive elements along `dim` pruned together (> 1). */
  readonly blockSize: number;
  /** 0 (output channels) or 1 (input channels). */
  readonly dim: 0 | 1;
}

/** Splits a rank 2-5 shape into [dim0, dim1, rest]. */
function channelLayout(shape: readonly number[], what: string): [number, number, number] {
  if (shape.length < 2 || shape.length > 5) {
    throw new UnsupportedError(`${what} needs a weight of rank 2 to 5, got shape [${shape}]`);
  }
  return [shape[0], shape[1], elementCount(shape.slice(2))];
}

/**
 * Every element's block magnitude: the L2 norm of its block of `blockSize` consecutive
 * channels along `dim` (the last block zero-padded), computed in the weight's precision with
 * the squares summed in channel order.
 */
function blockMagnitudes(
  values: Float32Array,
  shape: readonly number[],
  { blockSize, dim }: BlockSparsity,
  precision: Precision,
): Float32Array {
  const [size0, size1, rest] = channelLayout(shape, "block sparsity");
  const { round } = precision;
  const magnitudes = new Float32Array(values.length);
  const channels = dim === 0 ? size0 : size1;
  const others = dim === 0 ? size1 : size0;
  const offset = (channel: number, other: number) =>
    (dim === 0 ? channel * size1 + other : other * size1 + channel) * rest;
  for (let start = 0; start < channels; start += blockSize) {
    const end = Math.min(start + blockSize, channels);
    for (let other = 0; other < others; other++) {
      for (let r = 0; r < rest; r++) {
        let sum = 0;
        for (let c = start; c < end; c++) {
          const v = values[offset(c, other) + r];
          sum = round(sum + round(v * v));
        }
        const norm = round(Math.sqrt(sum));
        for (let c = start; c < end; c++) magnitudes[offset(c, other) + r] = norm;
      }
    }
  }
  return magnitudes;
}

/**
 * Zeroes the `targetSparsity` fraction of elements of least magnitude: every element whose
 * magnitude (|w|, or its block's L2 norm for block sparsity) is <= the percentile, so ties
 * with the percentile are all pruned.
 */
export function pruneByMagnitude(
  weight: PrunableTensor,
  targetSparsity: number,
  block?: BlockSparsity,
): PruneResult {
  if (!block && weight.dtype === "fp16") {
    return {
      kind: "sparse",
      ...pruneHalvesByMagnitude(weight.data as Uint16Array, targetSparsity),
    };
  }
  const values = valuesOf(weight);
  const precision = precisionOf(weight);
  let magnitudes: Float32Array;
  if (block) {
    const channels = channelLayout(weight.shape, "block sparsity")[block.dim];
    if (block.blockSize > channels / 2) {
      return {
        kind: "skipped",
        reason: `block_size ${block.blockSize} > half of the ${channels} channels of dim ${block.dim}`,
      };
    }
    magnitudes = blockMagnitudes(values, weight.shape, block, precision);
  } else {
    magnitudes = absolute(values);
  }
  // coremltools scales the fraction to a percentage before numpy divides it back.
  const q = targetSparsity * 100;
  const pruned = new Uint8Array(values.length);
  if (q === 100) pruned.fill(1);
  else if (q !== 0) {
    const limit = percentile(magnitudes.length, (k) => kthSmallest(magnitudes, k), q, precision);
    for (let i = 0; i < values.length; i++) if (magnitudes[i] <= limit) pruned[i] = 1;
  }
  return { kind: "sparse", weight: sparsify(weight, values, pruned) };
}

/**
 * n:m structured pruning: along `dim`, channels form groups of `m` consecutive elements (the
 * last group zero-padded) and the `n` of least magnitude in each group are zeroed (ties go to
 * the earlier channel; padding counts as magnitude 0 after the real channels).
 */
export function pruneNM(weight: PrunableTensor, n: number, m: number, dim: 0 | 1): PruneResult {
  const [size0, size1, rest] = channelLayout(weight.shape, "n:m pruning");
  const channels = dim === 0 ? size0 : size1;
  if (m > channels / 2) {
    return { kind: "skipped", reason: `m ${m} > half of the ${channels} channels of dim ${dim}` };
  }
  const values = valuesOf(weight);
  const pruned = new Uint8Array(values.length);
  const others = dim === 0 ? size1 : size0;
  const offset = (channel: number, other: number) =>
    (dim === 0 ? channel * size1 + other : other * size1 + channel) * rest;
  const group: { magnitude: number; index: number }[] = [];
  for (let other = 0; other < others; other++) {
    for (let r = 0; r < rest; r++) {
      for (let start = 0; start < channels; start += m) {
        group.length = 0;
        for (let c = start; c < start + m; c++) {
          const index = c < channels ? offset(c, other) + r : -1;
          group.push({ magnitude: index < 0 ? 0 : Math.abs(values[index]), index });
        }
        // Array.prototype.sort is stable, so equal magnitudes keep channel order.
        group.sort((a, b) => compareMagnitudes(a.magnitude, b.magnitude));
        for (let j = 0; j < n; j++) if (group[j].index >= 0) pruned[group[j].index] = 1;
      }
    }
  }
  return { kind: "sparse", weight: sparsify(weight, values, pruned) };
}

/** numpy's sort order for floats: NaN after everything else. */
function compareMagnitudes(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a - b;
}

/** How to prune one weight. */
export type PruneSpec =
  | { readonly kind: "threshold"; readonly threshold: number; readonly minimumSparsity: number }
  | { readonly kind: "magnitude"; readonly targetSparsity: number; readonly block?: BlockSparsity }
  | { readonly kind: "n:m"; readonly n: number; readonly m: number; readonly dim: 0 | 1 };

export function prune(weight: PrunableTensor, spec: PruneSpec): PruneResult {
  const result =
    spec.kind === "threshold"
      ? pruneByThreshold(weight, spec.threshold, spec.minimumSparsity)
      : spec.kind === "magnitude"
        ? pruneByMagnitude(weight, spec.targetSparsity, spec.block)
        : pruneNM(weight, spec.n, spec.m, spec.dim);
  if (result.kind !== "sparse" || result.snrDb !== undefined) return result;
  return { ...result, snrDb: pruningSnrDb(weight, result.weight.nonzeroData) };
}

/** SNR of a weight against its pruned form: the pruned values are the noise. */
function pruningSnrDb(weight: PrunableTensor, kept: Uint16Array | Float32Array): number {
  const signal = sumOfSquares(weight.data, weight.dtype === "fp16");
  return snrDb(signal, Math.max(0, signal - sumOfSquares(kept, weight.dtype === "fp16")));
}

function sumOfSquares(data: Uint16Array | Float32Array, halves: boolean): number {
  let sum = 0;
  if (halves) {
    const value = halfValueTable();
    for (let i = 0; i < data.length; i++) {
      const v = value[data[i]];
      sum += v * v;
    }
  } else {
    for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
  }
  return sum;
}
