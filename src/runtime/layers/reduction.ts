/** Reductions over axes, arg-extremes, sorting (top-k, argsort) and cumulative sums. */
import {
  ReduceLayerParams_ReduceAxis,
  ReduceLayerParams_ReduceOperation,
} from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import { cumulativeSum, topK } from "../../kernels/ops/lines.js";
import { reduce, type Reduction } from "../../kernels/ops/reduce.js";
import {
  axisOf,
  num,
  paramsOf,
  unsupported,
  type LayerCompiler,
  type LayerType,
} from "./params.js";

/** Reduced without kept axes, a blob of rank 0 is [1]. */
const atLeast1d = (x: Dense): Dense => (x.shape.length ? x : { shape: [1], data: x.data });

const O = ReduceLayerParams_ReduceOperation;
const OPERATIONS: Record<number, Reduction> = {
  [O.SUM]: "sum",
  [O.AVG]: "mean",
  [O.PROD]: "prod",
  [O.LOGSUM]: "log_sum",
  [O.SUMSQUARE]: "sum_square",
  [O.L1]: "l1_norm",
  [O.L2]: "l2_norm",
  [O.MAX]: "max",
  [O.MIN]: "min",
  [O.ARGMAX]: "argmax",
};

const A = ReduceLayerParams_ReduceAxis;
const AXES: Record<number, number[]> = {
  [A.CHW]: [-3, -2, -1],
  [A.HW]: [-2, -1],
  [A.C]: [-3],
  [A.H]: [-2],
  [A.W]: [-1],
};

/** The rank-5 reduction over C, H, W or several of them; reduced axes stay with size 1. */
const reduceLayer: LayerCompiler = (layer) => {
  const { mode, axis } = paramsOf(layer, "reduce");
  const kind = OPERATIONS[mode];
  const axes = AXES[axis];
  if (!axes) throw unsupported(layer, `reduction axis ${axis}`);
  if (!kind || (kind === "argmax" && axes.length > 1)) {
    throw unsupported(layer, `reduction mode ${O[mode] ?? mode} over these axes`);
  }
  return ([x]) =>
    reduce(
      x,
      axes.map((a) => axisOf(layer, a, x.shape.length)),
      kind,
      true,
    );
};

type NdReduction = Extract<LayerType, `reduce${string}`>;

/** An iOS 13 reduction: over `axes` (or every axis), keeping them as 1 or dropping them. */
const reduceND =
  <T extends Exclude<NdReduction, "reduce">>(type: T, kind: Reduction): LayerCompiler =>
  (layer) => {
    const p = paramsOf(layer, type) as { axes: bigint[]; keepDims: boolean; reduceAll: boolean };
    return ([x]) => {
      const rank = x.shape.length;
      const axes = p.reduceAll
        ? x.shape.map((_, i) => i)
        : p.axes.map((a) => axisOf(layer, num(a), rank));
      return atLeast1d(reduce(x, axes, kind, p.keepDims));
    };
  };

/** Index of the largest (smallest) value along an axis, which stays with size 1 unless removed. */
const argExtreme =
  (type: "argMax" | "argMin"): LayerCompiler =>
  (layer) => {
    const p = paramsOf(layer, type);
    return ([x]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      const kind = type === "argMax" ? "argmax" : "argmin";
      return atLeast1d(reduce(x, [axis], kind, !p.removeDim));
    };
  };

export const REDUCTION_LAYERS = {
  reduce: reduceLayer,
  reduceSum: reduceND("reduceSum", "sum"),
  reduceMean: reduceND("reduceMean", "mean"),
  reduceProd: reduceND("reduceProd", "prod"),
  reduceMax: reduceND("reduceMax", "max"),
  reduceMin: reduceND("reduceMin", "min"),
  reduceL1: reduceND("reduceL1", "l1_norm"),
  reduceL2: reduceND("reduceL2", "l2_norm"),
  reduceSumSquare: reduceND("reduceSumSquare", "sum_square"),
  reduceLogSum: reduceND("reduceLogSum", "log_sum"),
  reduceLogSumExp: reduceND("reduceLogSumExp", "log_sum_exp"),
  argMax: argExtreme("argMax"),
  argMin: argExtreme("argMin"),
  /** Values and indices of the K largest (or smallest) along the axis; K from a second input. */
  topK: (layer) => {
    const p = paramsOf(layer, "topK");
    return ([x, k]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      const count = k ? Math.trunc(k.data[0]) : num(p.K);
      if (!(count >= 0 && count <= x.shape[axis])) {
        throw unsupported(layer, `K = ${count} along an axis of ${x.shape[axis]}`);
      }
      const { values, indices } = topK(x, axis, count, p.useBottomK);
      return [values, indices];
    };
  },
  argSort: (layer) => {
    const p = paramsOf(layer, "argSort");
    return ([x]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      return topK(x, axis, x.shape[axis], !p.descending).indices;
    };
  },
  cumSum: (layer) => {
    const p = paramsOf(layer, "cumSum");
    return ([x, axisInput]) => {
      const given = axisInput ? Math.trunc(axisInput.data[0]) : num(p.axis);
      const axis = axisOf(layer, given, x.shape.length);
      return cumulativeSum(x, axis, p.excludeFinalSum, p.reverse);
    };
  },
} satisfies Record<string, LayerCompiler>;
