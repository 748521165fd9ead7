/**
 * Linear (affine) quantization of a float tensor in blocks, bit-identical to coremltools:
 * every step is computed in the weight's own precision (fp16 weights get each intermediate
 * rounded to fp16, as numpy's float16 arithmetic does), rounding is half to even, and a block of
 * zeros quantizes to data 0, scale 0, zero point 0 (numpy's NaN-to-integer cast gives 0 there).
 */
import { ELEMENT_TYPES, type ElementType, type Tensor, elementCount } from "./dtype.js";
import { floatToHalf, halfToFloat, halfToFloatArray, roundToHalf } from "./fp16.js";
import { SimdHalfTensor } from "./linear-quantize-simd.js";
import { snrDb } from "./snr.js";
import { ROUNDING_BIAS, roundHalfEven } from "./rounding.js";
import { countSetBits } from "./sparse.js";

export type LinearQuantizationMode = "linear_symmetric" | "linear";

export interface LinearQuantizeSpec {
  mode: LinearQuantizationMode;
  /** int8, uint8, int4 or uint4. */
  dtype: ElementType;
  /** Per axis: the block size along it, or 0 for the whole axis in one block. */
  blockSizes: readonly number[];
}

export interface LinearQuantized {
  /** Quantized values, one per weight element (dtype `spec.dtype`). */
  data: Tensor;
  /** One scale per block, of the weight's float type; shape: blocks per axis. */
  scale: Tensor;
  /** One zero point per block (dtype `spec.dtype`), absent when it is 0 by construction. */
  zeroPoint?: Tensor;
  /** Signal-to-noise ratio of the reconstruction, in dB (Infinity when exact). */
  snrDb: number;
}

/** The integer range coremltools quantizes into: symmetric modes drop one end value. */
export function quantizationRange(
  bits: number,
  signed: boolean,
  mode: LinearQuantizationMode,
): [number, number] {
  if (signed) {
    const min = -(2 ** (bits - 1));
    return [mode === "linear_symmetric" ? min + 1 : min, 2 ** (bits - 1) - 1];
  }
  const max = 2 ** bits - 1;
  return [0, mode === "linear_symmetric" ? max - 1 : max];
}

/** Casting a float to an integer the way numpy does on common CPUs: NaN becomes 0. */
function toInteger(x: number): number {
  return Number.isNaN(x) ? 0 : x;
}

/**
 * Quantizes `weight` (fp16 or fp32) blockwise. Returns undefined when an axis is not divisible
 * by its block size (coremltools then leaves the weight alone).
 */
export function linearQuantize(
  weight: Tensor,
  spec: LinearQuantizeSpec,
): LinearQuantized | undefined {
  return quantizeInBands(weight, spec, undefined);
}

/**
 * Quantizes a pruned weight's dense form (pruned positions included, so blocks see them as
 * coremltools does) and keeps the data of the set positions of `keep` only, in order (`keep`
 * packed one bit per element, least significant first). Band by band, so the dense quantized
 * form never exists whole.
 */
export function linearQuantizeKept(
  weight: Tensor,
  spec: LinearQuantizeSpec,
  keep: Uint8Array,
): LinearQuantized | undefined {
  return quantizeInBands(weight, spec, keep);
}

function quantizeInBands(
  weight: Tensor,
  spec: LinearQuantizeSpec,
  keep: Uint8Array | undefined,
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
  if (weight.dtype !== "fp16" && weight.dtype !== "fp32") {
    throw new RangeError(`cannot quantize a ${weight.dtype} tensor`);
  }
  const columns = keep ? undefined : columnRuns(weight, spec);
  if (columns) return quantizeColumns(weight, spec, scaleShape, columns);
  const traits = ELEMENT_TYPES[spec.dtype];
  const blocks = elementCount(scaleShape);
  const kept = keep ? countSetBits(keep, weight.data.length) : weight.data.length;
  const out = bandOutput(spec, weight.dtype, kept, blocks);

  // Blocks of blockSizes[0] rows never straddle such rows: bands of them are quantized one at
  // a time, so the per-block tables stay small however large the weight.
  const values = weight.data as Uint16Array | Float32Array;
  const banded = rank > 0 && spec.blockSizes[0] > 0;
  const rowCount = banded ? shape[0] : 1;
  const rowElements = values.length / rowCount;
  // Blocks per blockSizes[0] rows.
  const blocksPerBand = blocks / scaleShape[0];
  const bandRows = banded
    ? spec.blockSizes[0] *
      Math.max(1, Math.floor(BAND_ELEMENTS / (spec.blockSizes[0] * rowElements)))
    : 1;
  // With `keep`, each band is quantized densely here, then its kept values appended.
  const bandData = keep && (new traits.array!(bandRows * rowElements) as Int8Array | Uint8Array);
  let appended = 0;
  let signal = 0;
  let noise = 0;
  for (let row = 0; row < rowCount; row += bandRows) {
    const rows = Math.min(bandRows, rowCount - row);
    const [start, end] = [row * rowElements, (row + rows) * rowElements];
    const firstBlock = banded ? (row / spec.blockSizes[0]) * blocksPerBand : 0;
    const endBlock = banded ? ((row + rows) / spec.blockSizes[0]) * blocksPerBand : blocks;
    const band = quantizeBand(
      {
        dtype: weight.dtype,
        shape: banded ? [rows, ...shape.slice(1)] : shape,
        data: values.subarray(start, end),
      },
      spec,
      banded ? [rows / spec.blockSizes[0], ...scaleShape.slice(1)] : scaleShape,
      {
        data: bandData ? bandData.subarray(0, end - start) : out.data.subarray(start, end),
        scales: out.scales.subarray(firstBlock, endBlock),
        zeroPoints: out.zeroPoints?.subarray(firstBlock, endBlock),
      },
    );
    signal += band.signal;
    noise += band.noise;
    if (bandData) appended = appendKept(bandData, keep!, start, end, out.data, appended);
  }
  return quantizedResult(spec, weight.dtype, keep ? [kept] : shape, scaleShape, out, signal, noise);
}

/** Fresh arrays for `elements` quantized values and the parameters of `blocks` blocks. */
function bandOutput(
  spec: LinearQuantizeSpec,
  weightDtype: Tensor["dtype"],
  elements: number,
  blocks: number,
): BandOutput {
  const traits = ELEMENT_TYPES[spec.dtype];
  const hasZeroPoint = spec.mode === "linear" || traits.kind !== "signed";
  return {
    data: new traits.array!(elements) as Int8Array | Uint8Array,
    scales: weightDtype === "fp16" ? new Uint16Array(blocks) : new Float32Array(blocks),
    zeroPoints: hasZeroPoint ? (new traits.array!(blocks) as Int8Array | Uint8Array) : undefined,
  };
}

function quantizedResult(
  spec: LinearQuantizeSpec,
  weightDtype: Tensor["dtype"],
  shape: readonly number[],
  scaleShape: readonly number[],
  out: BandOutput,
  signal: number,
  noise: number,
): LinearQuantized {
  const result: LinearQuantized = {
    data: { dtype: spec.dtype, shape: [...shape], data: out.data },
    scale: { dtype: weightDtype, shape: [...scaleShape], data: out.scales },
    snrDb: snrDb(signal, noise),
  };
  if (out.zeroPoints) {
    result.zeroPoint = { dtype: spec.dtype, shape: [...scaleShape], data: out.zeroPoints };
  }
  return result;
}

/**
 * For an fp16 matrix quantized per column (per channel along its last axis, as matmul weights
 * are, whole or in blocks down the rows), the length of the runs its columns make once
 * transposed, when the SIMD kernel takes them (multiples of 8).
 */
function columnRuns(weight: Tensor, spec: LinearQuantizeSpec): number | undefined {
  const [rows, cols] = weight.shape;
  if (weight.dtype !== "fp16" || weight.shape.length !== 2 || cols < 2) return undefined;
  if (spec.blockSizes[1] !== 1) return undefined;
  const run = spec.blockSizes[0] > 0 ? spec.blockSizes[0] : rows;
  return run % 8 === 0 ? run : undefined;
}

/**
 * Per-column quantization through the row kernels: bands of columns are transposed into rows,
 * quantized (each element's value depends only on its block, so the result is the same), and
 * written back in place.
 */
function quantizeColumns(
  weight: Tensor,
  spec: LinearQuantizeSpec,
  scaleShape: readonly number[],
  run: number,
): LinearQuantized {
  const [rows, cols] = weight.shape;
  const halves = weight.data as Uint16Array;
  const rowBlocks = rows / run;
  const out = bandOutput(spec, "fp16", rows * cols, rowBlocks * cols);
  const bandColumns = Math.max(1, Math.min(cols, Math.floor(BAND_ELEMENTS / rows)));
  const transposed = new Uint16Array(bandColumns * rows);
  const band = bandOutput(spec, "fp16", bandColumns * rows, bandColumns * rowBlocks);
  let signal = 0;
  let noise = 0;
  for (let first = 0; first < cols; first += bandColumns) {
    const width = Math.min(bandColumns, cols - first);
    // In tiles of rows, so that both sides stay in cache.
    for (let top = 0; top < rows; top += TILE_ROWS) {
      const bottom = Math.min(rows, top + TILE_ROWS);
      for (let c = 0; c < width; c++) {
        for (let r = top; r < bottom; r++) transposed[c * rows + r] = halves[r * cols + first + c];
      }
    }
    const sums = quantizeBand(
      { dtype: "fp16", shape: [width, rows], data: transposed.subarray(0, width * rows) },
      { ...spec, blockSizes: [1, spec.blockSizes[0]] },
      [width, rowBlocks],
      {
        data: band.data.subarray(0, width * rows),
        scales: band.scales.subarray(0, width * rowBlocks),
        zeroPoints: band.zeroPoints?.subarray(0, width * rowBlocks),
      },
    );
    signal += sums.signal;
    noise += sums.noise;
    for (let top = 0; top < rows; top += TILE_ROWS) {
      const bottom = Math.min(rows, top + TILE_ROWS);
      for (let r = top; r < bottom; r++) {
        for (let c = 0; c < width; c++) out.data[r * cols + first + c] = band.data[c * rows + r];
      }
    }
    for (let c = 0; c < width; c++) {
      for (let b = 0; b < rowBlocks; b++) {
        out.scales[b * cols + first + c] = band.scales[c * rowBlocks + b];
        if (out.zeroPoints)
          out.zeroPoints[b * cols + first + c] = band.zeroPoints![c * rowBlocks + b];
      }
    }
  }
  return quantizedResult(spec, "fp16", weight.shape, scaleShape, out, signal, noise);
}

/** Appends the values of elements start..end-1 that `keep` sets; returns the new length. */
function appendKept(
  band: Int8Array | Uint8Array,
  keep: Uint8Array,
  start: number,
  end: number,
  out: Int8Array | Uint8Array,
  at: number,
): number {
  for (let i = start; i < end; i++) {
    // Written at every step, kept only where the bit advances the position.
    out[at] = band[i - start];
    at += (keep[i >> 3] >> (i & 7)) & 1;
  }
  return at;
}

/** Rows per tile of the transpositions of quantizeColumns. */
const TILE_ROWS = 32;

/** Elements per band of rows (see linearQuantize). */
const BAND_ELEMENTS = 1 << 18;

/** Where a band's results go: its part of the data, scale and zero-point arrays. */
interface BandOutput {
  data: Int8Array | Uint8Array;
  scales: Uint16Array | Float32Array;
  zeroPoints: Int8Array | Uint8Array | undefined;
}

/**
 * Quantizes a whole weight (or band) whose blocks are `scaleShape`, writing into `out`;
 * returns the sums of squared values and of squared reconstruction errors.
 */
function quantizeBand(
  weight: Tensor,
  spec: LinearQuantizeSpec,
  scaleShape: readonly number[],
  out: BandOutput,
): { signal: number; noise: number } {
  const { shape } = weight;
  const isHalf = weight.dtype === "fp16";
  const round = isHalf ? roundToHalf : Math.fround;
  const layout = blockLayout(shape, spec.blockSizes, scaleShape);
  const blocks = elementCount(scaleShape);
  const rows = new RowReader(weight, layout.inner);
  const simd =
    rows.halves && layout.innerRun % 8 === 0
      ? SimdHalfTensor.load({
          halves: rows.halves,
          runLength: layout.innerRun,
          runBlocks: runBlocks(layout),
          blocks,
        })
      : undefined;

  const { low, high, fromHalves } = blockRanges(rows, layout, blocks, simd);

  const traits = ELEMENT_TYPES[spec.dtype];
  const signed = traits.kind === "signed";
  const [qMin, qMax] = quantizationRange(traits.bits, signed, spec.mode);
  const scales = new Float64Array(blocks);
  const zeroPoints = new Float64Array(blocks);
  const fastBlocks = new Uint8Array(blocks);
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
    fastBlocks[b] = Math.max(-lo, hi) / scales[b] < FAST_QUOTIENT_LIMIT ? 1 : 0;
    if (spec.mode === "linear") {
      const numerator = round(round(qMin * hi) - round(qMax * lo));
      const zp = roundHalfEven(round(numerator / span));
      zeroPoints[b] = Math.min(Math.max(zp, qMin), qMax);
    } else if (!signed) {
      zeroPoints[b] = Math.floor(qMax / 2);
    }
  }

  const offsets = zeroPoints.map(toInteger);
  const parameters: BlockParameters = {
    scales,
    fastBlocks,
    zeroPoints: out.zeroPoints ? zeroPoints : undefined,
    offsets,
    qMin,
    qMax,
    round,
  };
  for (let b = 0; b < blocks; b++) out.scales[b] = isHalf ? floatToHalf(scales[b]) : scales[b];
  out.zeroPoints?.set(offsets);
  // The SIMD decoding reads only finite halves.
  return simd && fromHalves
    ? quantizeWithSimd(simd, out.data, parameters)
    : quantizeRows(rows, layout, out.data, parameters);
}

/**
 * Each block's range. fp16 weights are scanned as raw patterns (see halfBlockMaxima); a block
 * of one sign may then read 0 at its other end, which neither mode tells apart (symmetric takes
 * the largest magnitude, affine widens the range to include 0). `fromHalves`: the patterns
 * gave the ranges, so every element is finite.
 */
function blockRanges(
  rows: RowReader,
  layout: BlockLayout,
  blocks: number,
  simd: SimdHalfTensor | undefined,
): { low: Float64Array; high: Float64Array; fromHalves: boolean } {
  const maxima = simd
    ? simd.blockMaxima()
    : rows.halves && halfBlockMaxima(rows.halves, layout, blocks);
  const ranges = maxima && rangesOfHalfMaxima(maxima);
  return ranges
    ? { ...ranges, fromHalves: true }
    : { ...floatBlockExtremes(rows, layout, blocks), fromHalves: false };
}

/** Smallest and largest value of each block (NaNs ignored). */
function floatBlockExtremes(
  rows: RowReader,
  layout: BlockLayout,
  blocks: number,
): { low: Float64Array; high: Float64Array } {
  const low = new Float64Array(blocks).fill(Infinity);
  const high = new Float64Array(blocks).fill(-Infinity);
  const { inner, innerBlock, innerRun } = layout;
  for (let row = 0; row < layout.rows; row++) {
    const values = rows.read(row);
    const base = layout.rowBlock(row);
    for (let start = 0; start < inner; start += innerRun) {
      const b = base + innerBlock[start];
      let lo = low[b];
      let hi = high[b];
      for (let j = start; j < start + innerRun; j++) {
        const v = values[j];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      low[b] = lo;
      high[b] = hi;
    }
  }
  return { low, high };
}

/**
 * Largest positive value and largest negative magnitude of each block, read off the half
 * patterns without decoding them: positive halves order like their patterns read as int16 (every
 * negative reads below them), negative magnitudes like their patterns read as uint16 (above every
 * positive). A NaN would win these maxima.
 */
function halfBlockMaxima(
  bits: Uint16Array,
  layout: BlockLayout,
  blocks: number,
): { maxSigned: Int32Array; maxUnsigned: Int32Array } {
  const maxSigned = new Int32Array(blocks).fill(-0x8000);
  const maxUnsigned = new Int32Array(blocks);
  const { inner, innerBlock, innerRun } = layout;
  for (let row = 0, element = 0; row < layout.rows; row++, element += inner) {
    const base = layout.rowBlock(row);
    for (let start = 0; start < inner; start += innerRun) {
      const b = base + innerBlock[start];
      let signed = maxSigned[b];
      let unsigned = maxUnsigned[b];
      for (let j = element + start, end = j + innerRun; j < end; j++) {
        const u = bits[j];
        const s = (u << 16) >> 16;
        if (s > signed) signed = s;
        if (u > unsigned) unsigned = u;
      }
      maxSigned[b] = signed;
      maxUnsigned[b] = unsigned;
    }
  }
  return { maxSigned, maxUnsigned };
}

/** Block ranges from halfBlockMaxima; undefined when a block holds a NaN or an infinity. */
function rangesOfHalfMaxima({
  maxSigned,
  maxUnsigned,
}: {
  maxSigned: Int32Array;
  maxUnsigned: Int32Array;
}): { low: Float64Array; high: Float64Array } | undefined {
  const blocks = maxSigned.length;
  const low = new Float64Array(blocks);
  const high = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const positive = maxSigned[b];
    const negative = maxUnsigned[b] >= 0x8000 ? maxUnsigned[b] : -1;
    if (positive >= 0x7c00 || negative >= 0xfc00) return undefined;
    high[b] = positive >= 0 ? halfToFloat(positive) : -0;
    low[b] = negative >= 0 ? halfToFloat(negative) : 0;
  }
  return { low, high };
}

/** Quotients below this are rounded from an estimate where safe (see roundingMargins). */
const FAST_QUOTIENT_LIMIT = 2048;

/**
 * How near to a half-integer a quotient q may come and still be rounded from the estimate
 * v·(1/scale), indexed by floor(|q|): numpy divides in float32 and, for fp16 weights, rounds the
 * quotient to half, moving it by at most half a step of each at |q|'s binade (plus the
 * estimate's own error, far below 1e-9).
 */
function roundingMargins(isHalf: boolean): Float64Array {
  const margins = new Float64Array(FAST_QUOTIENT_LIMIT);
  for (let i = 0; i < FAST_QUOTIENT_LIMIT; i++) {
    const exponent = i < 1 ? 0 : Math.floor(Math.log2(i));
    const halfStep = isHalf ? 2 ** (exponent - 10) : 0;
    const floatStep = 2 ** (exponent - 23);
    margins[i] = 0.5 - halfStep / 2 - floatStep / 2 - 1e-9;
  }
  return margins;
}
const HALF_MARGINS = roundingMargins(true);
const FLOAT_MARGINS = roundingMargins(false);

/** numpy's quotient rounded to an integer: divided in float32, then rounded to half for fp16. */
function exactRoundedQuotient(value: number, scale: number, isHalf: boolean): number {
  const quotient = Math.fround(value / scale);
  return roundHalfEven(isHalf ? roundToHalf(quotient) : quotient);
}

interface BlockParameters {
  scales: Float64Array;
  /** Per block: whether its quotients stay below FAST_QUOTIENT_LIMIT. */
  fastBlocks: Uint8Array;
  /** Zero points as computed (NaN for an all-zero block), absent when they are 0. */
  zeroPoints: Float64Array | undefined;
  /** Zero points as stored (integers). */
  offsets: Float64Array;
  qMin: number;
  qMax: number;
  /** Rounding to the weight's precision. */
  round: (value: number) => number;
}

/** One element the slow way: numpy's quotient, zero point, rounding, NaN to 0, clamping. */
function exactQuantized(
  v: number,
  scale: number,
  zeroPoint: number,
  isHalf: boolean,
  { qMin, qMax, round }: BlockParameters,
): number {
  let q = exactRoundedQuotient(v, scale, isHalf) + zeroPoint;
  // Integers this small are exact in both float types; only others need rounding.
  if (!(Math.abs(q) < 2048)) q = toInteger(round(q));
  return q < qMin ? qMin : q > qMax ? qMax : q;
}

/** Finite fp16 weights on WebAssembly SIMD. */
function quantizeWithSimd(
  simd: SimdHalfTensor,
  data: Int8Array | Uint8Array,
  { scales, zeroPoints, offsets, qMin, qMax }: BlockParameters,
): { signal: number; noise: number } {
  const zeroPoint = zeroPoints ?? new Float64Array(scales.length);
  return simd.quantize({ scale: scales, zeroPoint, offset: offsets }, qMin, qMax, data);
}

/**
 * Quantizes every element into `data` and measures the reconstruction: the sums of squared
 * values and squared errors, accumulated in element order.
 */
function quantizeRows(
  rows: RowReader,
  layout: BlockLayout,
  data: Int8Array | Uint8Array,
  parameters: BlockParameters,
): { signal: number; noise: number } {
  const { scales, fastBlocks, zeroPoints, offsets, qMin, qMax } = parameters;
  const { inner, innerBlock, innerRun } = layout;
  const isHalf = rows.halves !== undefined;
  const margins = isHalf ? HALF_MARGINS : FLOAT_MARGINS;
  let signal = 0;
  let noise = 0;
  for (let row = 0, element = 0; row < layout.rows; row++, element += inner) {
    const values = rows.read(row);
    const base = layout.rowBlock(row);
    for (let start = 0; start < inner; start += innerRun) {
      const b = base + innerBlock[start];
      const scale = scales[b];
      const inverse = 1 / scale;
      const fast = fastBlocks[b] === 1;
      const zeroPoint = zeroPoints ? zeroPoints[b] : 0;
      const offset = offsets[b];
      for (let j = start; j < start + innerRun; j++) {
        const v = values[j];
        const estimate = v * inverse;
        const nearest = estimate + ROUNDING_BIAS - ROUNDING_BIAS;
        let q: number;
        if (fast && Math.abs(estimate - nearest) < margins[Math.abs(estimate) | 0]) {
          // Below FAST_QUOTIENT_LIMIT, plus a zero point, q is an exact integer; integers the
          // weight's rounding would change lie outside every range and clamp the same.
          q = nearest + zeroPoint;
          q = q < qMin ? qMin : q > qMax ? qMax : q;
        } else {
          q = exactQuantized(v, scale, zeroPoint, isHalf, parameters);
        }
        data[element + j] = q;
        const error = v - (q - offset) * scale;
        signal += v * v;
        noise += error * error;
      }
    }
  }
  return { signal, noise };
}

/** Rows of a weight (its last axis) as float32 values, fp16 rows decoded into one buffer. */
class RowReader {
  readonly count: number;
  /** The raw patterns of an fp16 weight. */
  readonly halves: Uint16Array | undefined;
  private readonly decoded: Float32Array;

  constructor(
    private readonly weight: Tensor,
    private readonly inner: number,
  ) {
    this.count = weight.data.length;
    this.halves = weight.dtype === "fp16" ? (weight.data as Uint16Array) : undefined;
    this.decoded = new Float32Array(this.halves ? inner : 0);
  }

  read(row: number): Float32Array {
    const start = row * this.inner;
    const end = start + this.inner;
    if (!this.halves) return (this.weight.data as Float32Array).subarray(start, end);
    return halfToFloatArray(this.halves.subarray(start, end), this.decoded);
  }
}

/**
 * How elements map to blocks, row by row over the last axis: the block of element j of `row`
 * is `rowBlock(row) + innerBlock[j]`, the row-major position of the block in `scaleShape`.
 */
interface BlockLayout {
  rows: number;
  inner: number;
  innerBlock: Int32Array;
  /** Consecutive elements of a row that share a block. */
  innerRun: number;
  rowBlock(row: number): number;
}

function blockLayout(
  shape: readonly number[],
  blockSizes: readonly number[],
  scaleShape: readonly number[],
): BlockLayout {
  const rank = shape.length;
  if (rank === 0) {
    return { rows: 1, inner: 1, innerBlock: new Int32Array(1), innerRun: 1, rowBlock: () => 0 };
  }
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
  const outerShape = shape.slice(0, -1);
  const rows = elementCount(outerShape);
  const rowBlocks = new Int32Array(rows);
  const index = new Array<number>(rank - 1).fill(0);
  for (let row = 0; row < rows; row++) {
    for (let axis = 0; axis < rank - 1; axis++) rowBlocks[row] += contribution[axis][index[axis]];
    for (let axis = rank - 2; axis >= 0; axis--) {
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
    }
  }
  return {
    rows,
    inner: shape[rank - 1],
    innerBlock: contribution[rank - 1],
    innerRun: blockSizes[rank - 1] || shape[rank - 1],
    rowBlock: (row) => rowBlocks[row],
  };
}

/** The block of each run of `innerRun` consecutive elements, in element order. */
function runBlocks(layout: BlockLayout): Int32Array {
  const runsPerRow = layout.inner / layout.innerRun;
  const blocks = new Int32Array(layout.rows * runsPerRow);
  for (let row = 0, r = 0; row < layout.rows; row++) {
    const base = layout.rowBlock(row);
    for (let start = 0; start < layout.inner; start += layout.innerRun) {
      blocks[r++] = base + layout.innerBlock[start];
    }
  }
  return blocks;
}
