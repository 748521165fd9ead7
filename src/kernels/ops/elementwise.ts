/** Elementwise kernels over Float32Array with numpy broadcasting. */
import { broadcastShapes, broadcastStrides } from "./shape.js";
import { elementCount } from "../dtype.js";

export interface Dense {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Where a kernel gets its output array: a fresh one by default, or a reused block (the
 * runtime's arena) whose contents are unspecified, so kernels write every element.
 */
export type Allocate = (length: number) => Float32Array;

export const freshArray: Allocate = (length) => new Float32Array(length);

export function mapUnary(
  x: Dense,
  fn: (v: number) => number,
  allocate: Allocate = freshArray,
): Dense {
  const out = allocate(x.data.length);
  const src = x.data;
  for (let i = 0; i < src.length; i++) out[i] = fn(src[i]);
  return { shape: [...x.shape], data: out };
}

/** The four arithmetic ops that have their own loops. */
export type Arithmetic = "add" | "sub" | "mul" | "div";

/** x op y, with the op chosen inside the loop (a branch that never changes, so it is free). */
function apply(op: Arithmetic, x: number, y: number): number {
  return op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
}

/**
 * `mapBinary` for add, sub, mul and div with loops of their own: a loop calling a function
 * that varies from op to op cannot inline it, and boxes each result as a heap number. An
 * operand that repeats along leading axes is indexed within its own length.
 */
export function arithmetic(
  a: Dense,
  b: Dense,
  op: Arithmetic,
  allocate: Allocate = freshArray,
): Dense {
  const shape = broadcastShapes(a.shape, b.shape);
  const total = elementCount(shape);
  const [la, lb] = [repeatLength(a.shape, shape), repeatLength(b.shape, shape)];
  if (!la || !lb || (la !== total && lb !== total)) {
    return mapBinary(a, b, (x, y) => apply(op, x, y), allocate);
  }
  const out = allocate(total);
  const x = a.data;
  const y = b.data;
  if (la === total && lb === total) {
    for (let i = 0; i < total; i++) out[i] = apply(op, x[i], y[i]);
  } else if (lb === total) {
    for (let base = 0; base < total; base += la) {
      for (let j = 0; j < la; j++) out[base + j] = apply(op, x[j], y[base + j]);
    }
  } else {
    for (let base = 0; base < total; base += lb) {
      for (let j = 0; j < lb; j++) out[base + j] = apply(op, x[base + j], y[j]);
    }
  }
  return { shape, data: out };
}

/** `fn(a, b)` for every element of the broadcast of `a` and `b`. */
export function mapBinary(
  a: Dense,
  b: Dense,
  fn: (x: number, y: number) => number,
  allocate: Allocate = freshArray,
): Dense {
  const shape = broadcastShapes(a.shape, b.shape);
  const total = elementCount(shape);
  const out = allocate(total);
  const x = a.data;
  const y = b.data;
  if (x.length === total && y.length === total) {
    for (let i = 0; i < total; i++) out[i] = fn(x[i], y[i]);
    return { shape, data: out };
  }
  if (y.length === 1) {
    const c = y[0];
    for (let i = 0; i < total; i++) out[i] = fn(x[i], c);
    return { shape, data: out };
  }
  if (x.length === 1) {
    const c = x[0];
    for (let i = 0; i < total; i++) out[i] = fn(c, y[i]);
    return { shape, data: out };
  }
  // General case: walk the last dimension contiguously, with per-operand strides for it.
  const rank = shape.length;
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const inner = shape[rank - 1];
  const ia = sa[rank - 1];
  const ib = sb[rank - 1];
  const index = new Array<number>(rank).fill(0);
  let oa = 0;
  let ob = 0;
  for (let base = 0; base < total; base += inner) {
    for (let j = 0; j < inner; j++) out[base + j] = fn(x[oa + j * ia], y[ob + j * ib]);
    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      oa += sa[d];
      ob += sb[d];
      if (index[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
  return { shape, data: out };
}

/** `cond ? a : b` elementwise, all three broadcast together. */
export function select(cond: Dense, a: Dense, b: Dense, allocate: Allocate = freshArray): Dense {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const total = elementCount(shape);
  const [lc, la, lb] = [cond, a, b].map((t) => repeatLength(t.shape, shape));
  if (lc && la && lb) {
    // Each operand repeats along the leading axes: walk blocks of the longest repeat, the
    // shorter ones (which divide it) wrapping within.
    const out = allocate(total);
    const [c, x, y] = [cond.data, a.data, b.data];
    const block = Math.max(lc, la, lb);
    for (let base = 0; base < total; base += block) {
      let ic: number = base % lc;
      let ia: number = base % la;
      let ib: number = base % lb;
      for (let j = 0; j < block; j++) {
        out[base + j] = c[ic] !== 0 ? x[ia] : y[ib];
        if (++ic === lc) ic = 0;
        if (++ia === la) ia = 0;
        if (++ib === lb) ib = 0;
      }
    }
    return { shape, data: out };
  }
  const sc = broadcastStrides(cond.shape, shape);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const out = allocate(total);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let oc = 0;
  let oa = 0;
  let ob = 0;
  for (let i = 0; i < total; i++) {
    out[i] = cond.data[oc] !== 0 ? a.data[oa] : b.data[ob];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      oc += sc[d];
      oa += sa[d];
      ob += sb[d];
      if (index[d] < shape[d]) break;
      oc -= sc[d] * shape[d];
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
  return { shape, data: out };
}

/**
 * The length after which an operand broadcast to `shape` repeats, when it covers only trailing
 * axes of `shape` fully (ones before them); undefined otherwise.
 */
export function repeatLength(
  operand: readonly number[],
  shape: readonly number[],
): number | undefined {
  const lead = shape.length - operand.length;
  let length = 1;
  let leading = true;
  for (let d = 0; d < shape.length; d++) {
    const size = d < lead ? 1 : operand[d - lead];
    if (size === 1 && leading) continue;
    leading = false;
    if (size !== shape[d]) return undefined;
    length *= size;
  }
  return length;
}

/**
 * The error function, far beyond float32 accuracy: its Maclaurin series below 2, the continued
 * fraction of erfc above (the common 7.1.26 polynomial is only good to 1.5e-7).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2) {
    // Maclaurin series: converges fast for |x| < 2 (≤ 40 terms).
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    const value = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -value : value;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc by its continued fraction (Lentz), accurate for x ≥ 2.
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** erf is tabulated at steps of 1/64 over [0, 6] (beyond, it is ±1 in float32). */
const ERF_STEPS = 64;
const ERF_END = 6;

/**
 * Per grid point x0: erf(x0), erf'(x0) = 2/√π·e^(−x0²), and the Taylor coefficients of erf
 * about x0 relative to erf'(x0): −x0, (2x0² − 1)/3 and x0(3 − 2x0²)/6.
 */
export const ERF_TABLE = (() => {
  const table = new Float64Array((ERF_END * ERF_STEPS + 1) * 5);
  for (let i = 0; i <= ERF_END * ERF_STEPS; i++) {
    const x0 = i / ERF_STEPS;
    table.set(
      [
        erf(x0),
        (2 / Math.sqrt(Math.PI)) * Math.exp(-x0 * x0),
        -x0,
        (2 * x0 * x0 - 1) / 3,
        (x0 * (3 - 2 * x0 * x0)) / 6,
      ],
      i * 5,
    );
  }
  return table;
})();

/**
 * erf from the table: a fourth-order Taylor step from the nearest grid point (at most 1/128
 * away), whose error (the fifth-order term) stays under 1e-11, far below float32's rounding.
 */
export function tabulatedErf(x: number): number {
  const ax = Math.abs(x);
  if (!(ax < ERF_END)) return ax >= ERF_END ? Math.sign(x) : x;
  // The nearest grid point (truncating a non-negative number: Math.round is slower).
  const at = ((ax * ERF_STEPS + 0.5) | 0) * 5;
  const d = ax - at / (5 * ERF_STEPS);
  const t = ERF_TABLE;
  const value = t[at] + t[at + 1] * d * (1 + d * (t[at + 2] + d * (t[at + 3] + d * t[at + 4])));
  return x < 0 ? -value : value;
}

/** The exact GELU, x·(1 + erf(x/√2))/2, of every element. */
export function geluExact(x: Dense, allocate: Allocate = freshArray): Dense {
  const src = x.data;
  const out = allocate(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    out[i] = 0.5 * v * (1 + tabulatedErf(v * Math.SQRT1_2));
  }
  return { shape: [...x.shape], data: out };
}
