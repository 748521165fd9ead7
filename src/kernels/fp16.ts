/**
 * IEEE 754 half precision (binary16) conversions. Half values are held as their 16-bit patterns
 * in `Uint16Array`s. float32 -> half rounds to nearest, ties to even, as hardware and numpy do.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Rounds a float32 bit pattern to the nearest half bit pattern (ties to even). */
function roundF32BitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    // Infinity stays infinity; NaN stays a quiet NaN with its top payload bits.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 112; // rebias 127 -> 15
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign; // below half of the smallest subnormal
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const kept = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (rest > halfway || (rest === halfway && kept & 1) ? kept + 1 : kept);
  }
  const kept = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && kept & 1) ? kept + 1 : kept);
}

function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Every half pattern's float value; 256 KB, built on first use. */
let halfToFloatTable: Float32Array | undefined;
function table(): Float32Array {
  if (!halfToFloatTable) {
    halfToFloatTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfToFloatTable[h] = halfBitsToFloat(h);
  }
  return halfToFloatTable;
}

/** Every half pattern's value, indexed by the pattern (for hot loops; not to be modified). */
export function halfValueTable(): Float32Array {
  return table();
}

/** The value of one half bit pattern. */
export function halfToFloat(bits: number): number {
  return table()[bits & 0xffff];
}

/** The half bit pattern nearest to `value` (first rounded to float32, as numpy's float16 does). */
export function floatToHalf(value: number): number {
  scratchF32[0] = value;
  return roundF32BitsToHalf(scratchU32[0]);
}

/** Rounds a number to the nearest half-representable value (float32 first). */
export function roundToHalf(value: number): number {
  return table()[floatToHalf(value)];
}

/** Decodes `src` half patterns into `dst` (same length unless given). */
export function halfToFloatArray(
  src: Uint16Array,
  dst: Float32Array = new Float32Array(src.length),
): Float32Array {
  const lookup = table();
  for (let i = 0; i < src.length; i++) dst[i] = lookup[src[i]];
  return dst;
}

/** Encodes float32 values as half patterns, rounding to nearest even. */
export function floatToHalfArray(
  src: Float32Array,
  dst: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = roundF32BitsToHalf(bits[i]);
  return dst;
}

/**
 * The half bit pattern nearest to a double `value`, ties to even (numpy's float64 →
 * float16 cast). Rounding through float32 first can
 * land exactly on a half-way point and round the wrong way, so the result is corrected against
 * its neighbours.
 */
export function doubleToHalf(value: number): number {
  const bits = floatToHalf(value);
  if (!Number.isFinite(value) || (bits & 0x7fff) >= 0x7c00) return bits;
  const here = halfToFloat(bits);
  if (here === value) return bits;
  // Neighbour toward `value` (same sign: magnitude one step up or down).
  const towardLarger = Math.abs(value) > Math.abs(here);
  const other = towardLarger ? bits + 1 : bits - 1;
  if ((other & 0x7fff) >= 0x7c00 || ((bits & 0x7fff) === 0 && !towardLarger)) return bits;
  const there = halfToFloat(other);
  const dHere = Math.abs(value - here);
  const dThere = Math.abs(value - there);
  if (dThere < dHere || (dThere === dHere && (other & 1) === 0)) return other;
  return bits;
}

/** Smallest normal float16 magnitude: below it values keep fewer than 11 significant bits. */
export const HALF_MIN_NORMAL = 2 ** -14;

/**
 * Values that float16 cannot hold as well as its normal range does: nonzero values that
 * round to a subnormal (losing significant bits) or to zero, and finite values that overflow
 * to infinity.
 */
export interface HalfRangeLoss {
  subnormal: number;
  zero: number;
  overflow: number;
}

/** How many of `values` lose range when rounded to float16. */
export function halfRangeLoss(values: ArrayLike<number>): HalfRangeLoss {
  const loss: HalfRangeLoss = { subnormal: 0, zero: 0, overflow: 0 };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === 0 || !Number.isFinite(v)) continue;
    const rounded = roundToHalf(v);
    if (rounded === 0) loss.zero++;
    else if (!Number.isFinite(rounded)) loss.overflow++;
    else if (Math.abs(rounded) < HALF_MIN_NORMAL) loss.subnormal++;
  }
  return loss;
}

/**
 * The same count on values already stored as float16 patterns: subnormals and infinities
 * (values that rounded to zero can no longer be told from true zeros).
 */
export function storedHalfRangeLoss(bits: Uint16Array): HalfRangeLoss {
  const loss: HalfRangeLoss = { subnormal: 0, zero: 0, overflow: 0 };
  for (let i = 0; i < bits.length; i++) {
    const magnitude = bits[i] & 0x7fff;
    if (magnitude === 0x7c00) loss.overflow++;
    else if (magnitude !== 0 && magnitude < 0x400) loss.subnormal++;
  }
  return loss;
}

/** Whether any value was lost or reduced. */
export function hasHalfRangeLoss(loss: HalfRangeLoss): boolean {
  return loss.subnormal + loss.zero + loss.overflow > 0;
}
