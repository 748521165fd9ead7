/** Direct float64 → half rounding (numpy's astype(float16) from float64, no float32 step). */
import { floatToHalf, halfToFloat } from "../fp16.js";

/**
 * The half bit pattern nearest to `value`, ties to even. Rounding through float32 first can
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
