/** Elementwise kernels over Float32Array with numpy broadcasting. */
import { broadcastShapes, broadcastStrides, sizeOf } from "./shape.js";

export interface Dense {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export function mapUnary(x: Dense, fn: (v: number) => number): Dense {
  const out = new Float32Array(x.data.length);
  const src = x.data;
  for (let i = 0; i < src.length; i++) out[i] = fn(src[i]);
  return { shape: [...x.shape], data: out };
}

/** `fn(a, b)` for every element of the broadcast of `a` and `b`. */
export function mapBinary(a: Dense, b: Dense, fn: (x: number, y: number) => number): Dense {
  const shape = broadcastShapes(a.shape, b.shape);
  const total = sizeOf(shape);
  const out = new Float32Array(total);
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
export function select(cond: Dense, a: Dense, b: Dense): Dense {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const total = sizeOf(shape);
  const sc = broadcastStrides(cond.shape, shape);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const out = new Float32Array(total);
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
