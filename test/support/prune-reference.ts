/**
 * Test oracle: unstructured magnitude pruning computed on decoded float values with radix
 * selection, the form src/kernels/prune.ts must match bit for bit on its fp16 fast path.
 */
import { packSubByte } from "../../src/kernels/bitpack.js";
import {
  doubleToHalf,
  floatToHalf,
  halfToFloat,
  halfToFloatArray,
} from "../../src/kernels/fp16.js";
import type { PrunableTensor, SparseWeight } from "../../src/kernels/prune.js";

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
  const mask = new Uint8Array(count);
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const value = pruned[i] ? values[i] * 0 : values[i];
    if (value !== 0) {
      mask[i] = 1;
      kept++;
    }
  }
  const nonzeroData = weight.dtype === "fp16" ? new Uint16Array(kept) : new Float32Array(kept);
  for (let i = 0, j = 0; i < count; i++) {
    if (!mask[i]) continue;
    if (!pruned[i]) nonzeroData[j++] = weight.data[i];
    else nonzeroData[j++] = weight.dtype === "fp16" ? floatToHalf(NaN) : NaN;
  }
  return { mask: packSubByte(mask, 1), nonzeroData };
}

/**
 * The k-th smallest (0-based) of non-negative floats, NaN sorting last: a two-pass radix
 * select on the float32 bit patterns, whose integer order is the numeric order.
 */
function kthSmallest(values: Float32Array, k: number): number {
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
 * numpy's default ("linear") percentile of non-negative magnitudes for a Python-float `q` in
 * (0, 100): the two neighbouring order statistics interpolated in the magnitudes' precision.
 */
function percentile(magnitudes: Float32Array, q: number, precision: Precision): number {
  const n = magnitudes.length;
  const virtualIndex = (n - 1) * (q / 100);
  if (virtualIndex >= n - 1) return kthSmallest(magnitudes, n - 1);
  const previousIndex = Math.floor(virtualIndex);
  const lower = kthSmallest(magnitudes, previousIndex);
  const upper = kthSmallest(magnitudes, previousIndex + 1);
  if (Number.isNaN(upper)) return NaN;
  const gamma = virtualIndex - previousIndex;
  const { round } = precision;
  const toPrecision = precision === FP16 ? doubleToHalfValue : Math.fround;
  const difference = round(upper - lower);
  if (gamma >= 0.5) return round(upper - round(difference * toPrecision(1 - gamma)));
  return round(lower + round(difference * toPrecision(gamma)));
}

/** Unstructured magnitude pruning, as the kernel did before its fp16 fast path. */
export function referencePruneByMagnitude(
  weight: PrunableTensor,
  targetSparsity: number,
): SparseWeight {
  const values = valuesOf(weight);
  const precision = weight.dtype === "fp16" ? FP16 : FP32;
  const magnitudes = values.map(Math.abs);
  const q = targetSparsity * 100;
  const pruned = new Uint8Array(values.length);
  if (q === 100) pruned.fill(1);
  else if (q !== 0) {
    const limit = percentile(magnitudes, q, precision);
    for (let i = 0; i < values.length; i++) if (magnitudes[i] <= limit) pruned[i] = 1;
  }
  return sparsify(weight, values, pruned);
}
