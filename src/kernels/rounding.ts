/** Rounding as numpy and Core ML do it. */

/** 1.5·2^52: adding it to |x| < 2^51 leaves no fraction bits, so the FPU rounds x to even. */
export const ROUNDING_BIAS = 2 ** 52 + 2 ** 51;

/** Round half to even (numpy's `round`); NaN, infinities and the sign of zero are kept. */
export function roundHalfEven(x: number): number {
  if (Math.abs(x) < 2 ** 51) {
    const rounded = x + ROUNDING_BIAS - ROUNDING_BIAS;
    return rounded === 0 ? x * 0 : rounded;
  }
  // Larger doubles are integers, except halves in [2^51, 2^52) (and NaN, infinities).
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
