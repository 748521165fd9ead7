/**
 * Test oracle: the straightforward element-by-element form of linear quantization the fast
 * kernel in src/kernels/linear-quantize.ts must match bit for bit. Like the kernel, it follows
 * coremltools:
 * every step is computed in the weight's own precision (fp16 weights get each intermediate
 * rounded to fp16, as numpy's float16 arithmetic does), rounding is half to even, and a block of
 * zeros quantizes to data 0, scale 0, zero point 0 (numpy's NaN-to-integer cast gives 0 there).
 */
import { ELEMENT_TYPES, type Tensor } from "../../src/kernels/dtype.js";
import {
  quantizationRange,
  type LinearQuantized,
  type LinearQuantizeSpec,
} from "../../src/kernels/linear-quantize.js";
import { roundHalfEven } from "../../src/kernels/rounding.js";
import { halfToFloat, roundToHalf, floatToHalf } from "../../src/kernels/fp16.js";

/** Casting a float to an integer the way numpy does on common CPUs: NaN becomes 0. */
function toInteger(x: number): number {
  return Number.isNaN(x) ? 0 : x;
}

/**
 * Quantizes `weight` (fp16 or fp32) blockwise. Returns undefined when an axis is not divisible
 * by its block size (coremltools then leaves the weight alone).
 */
export function referenceLinearQuantize(
  weight: Tensor,
  spec: LinearQuantizeSpec,
): LinearQuantized | undefined {
  const { shape } = weight;
  const rank = shape.length;
  if (spec.blockSizes.length !== rank) {
    throw new RangeError(`${spec.blockSizes.length} block sizes for a rank-${rank} weight`);
  }
  const scaleShape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const block = spec.blockSizes[axis];
    if (block > 0 && shape[axis] % block !== 0) return undefined;
    scaleShape.push(block > 0 ? shape[axis] / block : 1);
  }
  const isHalf = weight.dtype === "fp16";
  if (!isHalf && weight.dtype !== "fp32") {
    throw new RangeError(`cannot quantize a ${weight.dtype} tensor`);
  }
  const round = isHalf ? roundToHalf : Math.fround;
  const values = isHalf ? decodeHalf(weight.data as Uint16Array) : (weight.data as Float32Array);
  const blockOf = blockIndexer(shape, spec.blockSizes, scaleShape);
  const blocks = scaleShape.reduce((a, b) => a * b, 1);

  const low = new Float64Array(blocks).fill(Infinity);
  const high = new Float64Array(blocks).fill(-Infinity);
  blockOf((i, b) => {
    const v = values[i];
    if (v < low[b]) low[b] = v;
    if (v > high[b]) high[b] = v;
  });

  const traits = ELEMENT_TYPES[spec.dtype];
  const signed = traits.kind === "signed";
  const [qMin, qMax] = quantizationRange(traits.bits, signed, spec.mode);
  const scales = new Float64Array(blocks);
  const zeroPoints = new Float64Array(blocks);
  const hasZeroPoint = spec.mode === "linear" || !signed;
  for (let b = 0; b < blocks; b++) {
    let lo: number, hi: number;
    if (spec.mode === "linear_symmetric") {
      hi = Math.max(Math.abs(low[b]), Math.abs(high[b]));
      lo = -hi;
    } else {
      lo = Math.min(0, low[b]);
      hi = Math.max(0, high[b]);
    }
    const span = round(hi - lo);
    scales[b] = round(span / (qMax - qMin));
    if (spec.mode === "linear") {
      const numerator = round(round(qMin * hi) - round(qMax * lo));
      const zp = roundHalfEven(round(numerator / span));
      zeroPoints[b] = Math.min(Math.max(zp, qMin), qMax);
    } else if (!signed) {
      zeroPoints[b] = Math.floor(qMax / 2);
    }
  }

  const count = values.length;
  const data = new traits.array!(count) as Int8Array | Uint8Array;
  let signal = 0;
  let noise = 0;
  blockOf((i, b) => {
    const v = values[i];
    let q = roundHalfEven(round(v / scales[b]));
    if (hasZeroPoint) q = round(q + zeroPoints[b]);
    q = toInteger(Math.min(Math.max(q, qMin), qMax));
    data[i] = q;
    const restored = (q - toInteger(zeroPoints[b])) * scales[b];
    signal += v * v;
    noise += (v - restored) * (v - restored);
  });

  const scaleData = isHalf ? new Uint16Array(blocks) : new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) scaleData[b] = isHalf ? floatToHalf(scales[b]) : scales[b];
  const result: LinearQuantized = {
    data: { dtype: spec.dtype, shape, data },
    scale: { dtype: weight.dtype, shape: scaleShape, data: scaleData },
    snrDb: noise === 0 ? Infinity : 10 * Math.log10(signal / noise),
  };
  if (hasZeroPoint) {
    const zp = new traits.array!(blocks) as Int8Array | Uint8Array;
    for (let b = 0; b < blocks; b++) zp[b] = toInteger(zeroPoints[b]);
    result.zeroPoint = { dtype: spec.dtype, shape: scaleShape, data: zp };
  }
  return result;
}

function decodeHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]);
  return out;
}

/**
 * Calls `visit(elementIndex, blockIndex)` for every element in row-major order, where the block
 * index is the row-major position of the element's block in a tensor of `scaleShape`.
 */
function blockIndexer(
  shape: readonly number[],
  blockSizes: readonly number[],
  scaleShape: readonly number[],
): (visit: (element: number, block: number) => void) => void {
  const rank = shape.length;
  // contribution[axis][index]: how much coordinate `index` on `axis` adds to the block index.
  const contribution: Int32Array[] = [];
  let stride = 1;
  for (let axis = rank - 1; axis >= 0; axis--) {
    const c = new Int32Array(shape[axis]);
    const block = blockSizes[axis];
    if (block > 0) for (let i = 0; i < shape[axis]; i++) c[i] = Math.floor(i / block) * stride;
    contribution[axis] = c;
    stride *= scaleShape[axis];
  }
  return (visit) => {
    if (rank === 0) return visit(0, 0);
    const inner = shape[rank - 1];
    const innerContribution = contribution[rank - 1];
    const index = new Array<number>(rank - 1).fill(0);
    const outer = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    let element = 0;
    for (let row = 0; row < outer; row++) {
      let base = 0;
      for (let axis = 0; axis < rank - 1; axis++) base += contribution[axis][index[axis]];
      for (let j = 0; j < inner; j++) visit(element++, base + innerContribution[j]);
      for (let axis = rank - 2; axis >= 0; axis--) {
        if (++index[axis] < shape[axis]) break;
        index[axis] = 0;
      }
    }
  };
}
