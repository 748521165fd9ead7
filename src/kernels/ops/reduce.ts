/** Reductions, normalizations and softmax along axes of dense Float32 tensors. */
import { freshArray, type Allocate, type Dense } from "./elementwise.js";
import { stridesOf } from "./shape.js";
import { elementCount } from "../dtype.js";

export type Reduction =
  | "sum"
  | "mean"
  | "max"
  | "min"
  | "prod"
  | "sum_square"
  | "l1_norm"
  | "l2_norm"
  | "log_sum"
  | "log_sum_exp"
  | "argmax"
  | "argmin";

/**
 * Splits `shape` around a sorted set of axes: `bases` holds the flat offset of each kept index
 * (row-major), `offsets` the relative offsets of the elements reduced into it.
 */
function groups(
  shape: readonly number[],
  axes: readonly number[],
): { kept: number[]; offsets: Int32Array; bases: Int32Array } {
  const strides = stridesOf(shape);
  const reduced = new Set(axes);
  const keptAxes = shape.map((_, i) => i).filter((i) => !reduced.has(i));
  const kept = keptAxes.map((i) => shape[i]);
  const reducedSizes = axes.map((a) => shape[a]);
  const offsets = new Int32Array(elementCount(reducedSizes));
  for (let r = 0; r < offsets.length; r++) {
    let rem = r;
    let off = 0;
    for (let j = axes.length - 1; j >= 0; j--) {
      off += (rem % reducedSizes[j]) * strides[axes[j]];
      rem = Math.floor(rem / reducedSizes[j]);
    }
    offsets[r] = off;
  }
  const bases = new Int32Array(elementCount(kept));
  for (let o = 0; o < bases.length; o++) {
    let rem = o;
    let off = 0;
    for (let j = keptAxes.length - 1; j >= 0; j--) {
      off += (rem % kept[j]) * strides[keptAxes[j]];
      rem = Math.floor(rem / kept[j]);
    }
    bases[o] = off;
  }
  return { kept, offsets, bases };
}

/** Reduces x over `axes` (normalized, any order); kept axes stay as size 1 when `keepDims`. */
export function reduce(
  x: Dense,
  axes: readonly number[],
  kind: Reduction,
  keepDims: boolean,
): Dense {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const { offsets, bases } = groups(x.shape, sorted);
  const out = new Float32Array(bases.length);
  const d = x.data;
  const count = offsets.length;
  for (let o = 0; o < bases.length; o++) {
    const base = bases[o];
    let acc: number;
    switch (kind) {
      case "max":
      case "min":
      case "argmax":
      case "argmin": {
        const wantMax = kind === "max" || kind === "argmax";
        acc = wantMax ? -Infinity : Infinity;
        let best = 0;
        for (let r = 0; r < count; r++) {
          const v = d[base + offsets[r]];
          if (wantMax ? v > acc : v < acc) {
            acc = v;
            best = r;
          }
        }
        if (kind === "argmax" || kind === "argmin") acc = best;
        break;
      }
      case "log_sum_exp": {
        let m = -Infinity;
        for (let r = 0; r < count; r++) m = Math.max(m, d[base + offsets[r]]);
        let s = 0;
        for (let r = 0; r < count; r++) s += Math.exp(d[base + offsets[r]] - m);
        acc = m + Math.log(s);
        break;
      }
      case "prod":
        acc = 1;
        for (let r = 0; r < count; r++) acc *= d[base + offsets[r]];
        break;
      default: {
        acc = 0;
        for (let r = 0; r < count; r++) {
          const v = d[base + offsets[r]];
          acc +=
            kind === "sum_square" || kind === "l2_norm"
              ? v * v
              : kind === "l1_norm"
                ? Math.abs(v)
                : v;
        }
        if (kind === "mean") acc /= count;
        else if (kind === "l2_norm") acc = Math.sqrt(acc);
        else if (kind === "log_sum") acc = Math.log(acc);
      }
    }
    out[o] = acc;
  }
  const reduced = new Set(sorted);
  const shape = keepDims
    ? x.shape.map((s, i) => (reduced.has(i) ? 1 : s))
    : x.shape.filter((_, i) => !reduced.has(i));
  return { shape, data: out };
}

/**
 * (x - mean) / sqrt(var + epsilon) over `axes`, then scaled by gamma and shifted by beta, which
 * given per element of x by the caller (they broadcast differently per norm op).
 */
export function normalize(
  x: Dense,
  axes: readonly number[],
  epsilon: number,
  scale: (flatIndex: number) => number,
  shift: (flatIndex: number) => number,
): Dense {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const { offsets, bases } = groups(x.shape, sorted);
  const out = new Float32Array(x.data.length);
  const d = x.data;
  const count = offsets.length;
  for (let o = 0; o < bases.length; o++) {
    const base = bases[o];
    let mean = 0;
    for (let r = 0; r < count; r++) mean += d[base + offsets[r]];
    mean /= count;
    let variance = 0;
    for (let r = 0; r < count; r++) {
      const v = d[base + offsets[r]] - mean;
      variance += v * v;
    }
    variance /= count;
    const inv = 1 / Math.sqrt(variance + epsilon);
    for (let r = 0; r < count; r++) {
      const i = base + offsets[r];
      out[i] = (d[i] - mean) * inv * scale(i) + shift(i);
    }
  }
  return { shape: [...x.shape], data: out };
}

/**
 * `normalize` over each run of `inner` consecutive elements (the trailing axes), with gamma
 * and beta given per element of a run: the same arithmetic in one pass per run.
 */
export function normalizeRuns(
  x: Dense,
  inner: number,
  epsilon: number,
  gamma: Float32Array | undefined,
  beta: Float32Array | undefined,
  allocate: Allocate = freshArray,
): Dense {
  const d = x.data;
  const out = allocate(d.length);
  for (let base = 0; base < d.length; base += inner) {
    let mean = 0;
    for (let r = 0; r < inner; r++) mean += d[base + r];
    mean /= inner;
    let variance = 0;
    for (let r = 0; r < inner; r++) {
      const v = d[base + r] - mean;
      variance += v * v;
    }
    variance /= inner;
    const inv = 1 / Math.sqrt(variance + epsilon);
    for (let r = 0; r < inner; r++) {
      out[base + r] = (d[base + r] - mean) * inv * (gamma ? gamma[r] : 1) + (beta ? beta[r] : 0);
    }
  }
  return { shape: [...x.shape], data: out };
}

/** softmax along one axis. */
export function softmax(x: Dense, axis: number, allocate: Allocate = freshArray): Dense {
  const out = allocate(x.data.length);
  if (axis === x.shape.length - 1) {
    // Along the last axis: contiguous runs, the same arithmetic without offset tables.
    const d = x.data;
    const inner = x.shape[axis];
    for (let base = 0; base < d.length; base += inner) {
      let m = -Infinity;
      for (let r = 0; r < inner; r++) m = Math.max(m, d[base + r]);
      let s = 0;
      for (let r = 0; r < inner; r++) {
        const e = Math.exp(d[base + r] - m);
        out[base + r] = e;
        s += e;
      }
      for (let r = 0; r < inner; r++) out[base + r] /= s;
    }
    return { shape: [...x.shape], data: out };
  }
  const { offsets, bases } = groups(x.shape, [axis]);
  const d = x.data;
  for (let o = 0; o < bases.length; o++) {
    const base = bases[o];
    let m = -Infinity;
    for (let r = 0; r < offsets.length; r++) m = Math.max(m, d[base + offsets[r]]);
    let s = 0;
    for (let r = 0; r < offsets.length; r++) {
      const e = Math.exp(d[base + offsets[r]] - m);
      out[base + offsets[r]] = e;
      s += e;
    }
    for (let r = 0; r < offsets.length; r++) out[base + offsets[r]] /= s;
  }
  return { shape: [...x.shape], data: out };
}
