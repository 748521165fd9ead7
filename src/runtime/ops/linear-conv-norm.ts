/** Layer MIL ops: linear/matmul, convolutions, pooling, normalizations, reductions, recurrences. */
import { elementCount } from "../../kernels/dtype.js";
import { UnsupportedError } from "../../errors.js";
import {
  conv2d,
  convTranspose2d,
  pool2d,
  poolOutputSize,
  spatialPadding,
  type PadType,
  type Window2d,
} from "../../kernels/ops/conv.js";
import { arithmetic, mapBinary, type Dense } from "../../kernels/ops/elementwise.js";
import { upsampleNearest } from "../../kernels/ops/movement.js";
import { linear, matmul } from "../../kernels/ops/matmul.js";
import { gru, lstm } from "../../kernels/ops/recurrent.js";
import {
  normalize,
  normalizeRuns,
  reduce,
  softmax,
  type Reduction,
} from "../../kernels/ops/reduce.js";
import { normalizeAxis, stridesOf } from "../../kernels/ops/shape.js";
import type { OpContext, OpKernel } from "../kernel.js";
import { isNumeric, type NumericValue, type RuntimeValue } from "../value.js";
import { simdConv, simdLinear, simdMatmul } from "../simd-kernels.js";
import { RowKernel, runMaxPool, runRows } from "../../kernels/simd/gemm.js";
import { namedActivation } from "./elementwise.js";

/** Views a 1-D (N, C, W) tensor as 2-D (N, C, 1, W); 3-D convolutions are not implemented. */
export function as2d(ctx: OpContext, t: Dense): Dense {
  if (t.shape.length === 4) return t;
  if (t.shape.length === 3) return { shape: [t.shape[0], t.shape[1], 1, t.shape[2]], data: t.data };
  throw new UnsupportedError(
    `op ${ctx.op.type} "${ctx.name}": only 1-D and 2-D spatial inputs are supported`,
  );
}

function pair(values: number[], spatial: number, fallback: number): [number, number] {
  if (values.length === 0) return [fallback, fallback];
  return spatial === 1 ? [fallback, values[0]] : [values[0], values[1]];
}

/** The window of a conv/pool op over x (already viewed as 2-D), with its padding resolved. */
export function windowOf(
  ctx: OpContext,
  x: Dense,
  kernel: [number, number],
  spatial: number,
): Window2d {
  const strides = pair(ctx.ints("strides", []), spatial, 1);
  const dilations = pair(ctx.ints("dilations", []), spatial, 1);
  const padType = ctx.string("pad_type", "valid") as PadType;
  if (!["valid", "same", "same_lower", "custom"].includes(padType))
    ctx.fail(`unknown pad_type "${padType}"`);
  const custom = ctx.ints("pad", []);
  const customH: [number, number] = spatial === 1 ? [0, 0] : [custom[0] ?? 0, custom[1] ?? 0];
  const customW: [number, number] =
    spatial === 1 ? [custom[0] ?? 0, custom[1] ?? 0] : [custom[2] ?? 0, custom[3] ?? 0];
  const [pt, pb] = spatialPadding(
    padType,
    x.shape[2],
    kernel[0],
    strides[0],
    dilations[0],
    customH,
  );
  const [pl, pr] = spatialPadding(
    padType,
    x.shape[3],
    kernel[1],
    strides[1],
    dilations[1],
    customW,
  );
  return { kernel, strides, dilations, pads: [pt, pb, pl, pr] };
}

/** Drops the H = 1 axis again from results of 1-D ops. */
function restore(shape: readonly number[], spatial: number): readonly number[] {
  return spatial === 1 ? [shape[0], shape[1], shape[3]] : shape;
}

function conv(ctx: OpContext): NumericValue {
  const input = ctx.tensor("x");
  const spatial = input.shape.length - 2;
  const x = as2d(ctx, input);
  const weight = as2d(ctx, ctx.tensor("weight"));
  const { win, groups } = convWindow(ctx, x, weight, spatial);
  const bias = ctx.optionalTensor("bias")?.data;
  const residual = ctx.services.residual;
  // The fast kernels add a residual of the output's shape as they write it.
  const alike = residual?.shape.length === input.shape.length ? as2d(ctx, residual) : undefined;
  let added = false;
  const result =
    ctx.simd && x.data.length > 0 && weight.data.length > 0
      ? simdConv(ctx, ctx.simd, x, weight, bias, win, groups, alike, () => (added = true))
      : conv2d(x, weight, bias, win, groups, ctx.gemm);
  const out: Dense = { shape: restore(result.shape, spatial), data: result.data };
  const sum = residual && !added ? arithmetic(out, residual, "add", ctx.allocate) : out;
  return { dtype: input.dtype, ...sum };
}

/** Inputs fixing a convolution's window besides the shapes. */
const WINDOW_INPUTS = ["strides", "dilations", "pad_type", "pad", "groups"];

/**
 * A convolution's window and groups, kept by the op for its input shapes when its parameters
 * are constants: reading them again on every prediction costs more than a small job.
 */
function convWindow(
  ctx: OpContext,
  x: Dense,
  weight: Dense,
  spatial: number,
): { win: Window2d; groups: number } {
  const key = `${x.shape[2]},${x.shape[3]},${weight.shape[2]},${weight.shape[3]}`;
  const cache = ctx.services.cache;
  const kept = cache?.get("window") as { key: string; win: Window2d; groups: number } | undefined;
  if (kept?.key === key) return kept;
  const win = windowOf(ctx, x, [weight.shape[2], weight.shape[3]], spatial);
  const made = { key, win, groups: ctx.int("groups", 1) };
  if (WINDOW_INPUTS.every((input) => !ctx.has(input) || ctx.isConstant(input))) {
    cache?.set("window", made);
  }
  return made;
}

function convTranspose(ctx: OpContext): NumericValue {
  const input = ctx.tensor("x");
  const spatial = input.shape.length - 2;
  const x = as2d(ctx, input);
  const weight = as2d(ctx, ctx.tensor("weight"));
  const groups = ctx.int("groups", 1);
  const kernel: [number, number] = [weight.shape[2], weight.shape[3]];
  const strides = pair(ctx.ints("strides", []), spatial, 1);
  const dilations = pair(ctx.ints("dilations", []), spatial, 1);
  const padType = ctx.string("pad_type", "valid");
  const custom = ctx.ints("pad", []);
  const full = [0, 1].map(
    (a) => (x.shape[2 + a] - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1,
  );
  let pads: [number, number, number, number] = [0, 0, 0, 0];
  if (padType === "custom") {
    pads =
      spatial === 1
        ? [0, 0, custom[0] ?? 0, custom[1] ?? 0]
        : [custom[0] ?? 0, custom[1] ?? 0, custom[2] ?? 0, custom[3] ?? 0];
  }
  let size: number[] = [full[0] - pads[0] - pads[1], full[1] - pads[2] - pads[3]];
  if (padType === "same") size = [x.shape[2] * strides[0], x.shape[3] * strides[1]];
  const declared = ctx.outputs[0]?.shape;
  if (declared && declared.every((d) => d !== null)) {
    const dims = declared.slice(2) as number[];
    size = spatial === 1 ? [1, dims[0]] : dims;
  } else if (ctx.has("output_shape")) {
    const dims = ctx.ints("output_shape").slice(-spatial);
    size = spatial === 1 ? [1, dims[0]] : dims;
  }
  if (padType !== "custom") {
    // Output cropped from the full result symmetrically (the smaller half before).
    const th = full[0] - size[0];
    const tw = full[1] - size[1];
    pads = [
      Math.floor(th / 2),
      th - Math.floor(th / 2),
      Math.floor(tw / 2),
      tw - Math.floor(tw / 2),
    ];
  }
  const win: Window2d = { kernel, strides, dilations, pads };
  const result = convTranspose2d(x, weight, ctx.optionalTensor("bias")?.data, win, groups, [
    size[0],
    size[1],
  ]);
  return { dtype: input.dtype, shape: restore(result.shape, spatial), data: result.data };
}

function pool(kind: "max" | "avg"): OpKernel {
  return (ctx) => {
    const input = ctx.tensor("x");
    const spatial = input.shape.length - 2;
    const x = as2d(ctx, input);
    const kernel = pair(ctx.ints("kernel_sizes"), spatial, 1);
    const win = windowOf(ctx, x, kernel, spatial);
    const padType = ctx.string("pad_type", "valid");
    const ceil = ctx.bool("ceil_mode", false);
    const [pt, pb, pl, pr] = win.pads;
    const size: [number, number] =
      padType === "same" || padType === "same_lower"
        ? [Math.ceil(x.shape[2] / win.strides[0]), Math.ceil(x.shape[3] / win.strides[1])]
        : [
            poolOutputSize(x.shape[2], kernel[0], win.strides[0], pt, pb, ceil),
            poolOutputSize(x.shape[3], kernel[1], win.strides[1], pl, pr, ceil),
          ];
    const simd = ctx.simd;
    const [sh, sw] = win.strides;
    if (kind === "max" && simd && sh === sw && x.data.length > 0) {
      const [n, c, h, w] = x.shape;
      const [oh, ow] = size;
      const [kh, kw] = win.kernel;
      // Windows past the plane (ceil mode) read the −∞ frame too.
      const bottom = Math.max(pb, (oh - 1) * sh + kh - h - pt);
      const right = Math.max(pr, (ow - 1) * sw + kw - w - pl);
      const out = simd.output(n * c * oh * ow);
      runMaxPool(simd.team, {
        src: simd.input(x.data).byteOffset,
        planes: n * c,
        h,
        w,
        pads: [pt, bottom, pl, right],
        kernel: win.kernel,
        stride: sh,
        oh,
        ow,
        dst: out.byteOffset,
      });
      return { dtype: input.dtype, shape: restore([n, c, oh, ow], spatial), data: out };
    }
    const excludePadding = ctx.bool("exclude_padding_from_average", false);
    const result = pool2d(x, win, size, kind, excludePadding, ctx.allocate);
    return { dtype: input.dtype, shape: restore(result.shape, spatial), data: result.data };
  };
}

function reduction(kind: Reduction): OpKernel {
  return (ctx) => {
    const x = ctx.tensor("x");
    const rank = x.shape.length;
    const axes = ctx.has("axes")
      ? ctx.ints("axes").map((a) => normalizeAxis(a, rank))
      : x.shape.map((_, i) => i);
    const keepDims = ctx.bool("keep_dims", false);
    if (ctx.simd && (kind === "sum" || kind === "mean")) {
      const fast = sumTrailing(ctx, x, axes, kind, keepDims);
      if (fast) return { dtype: x.dtype, ...fast };
    }
    return { dtype: x.dtype, ...reduce(x, axes, kind, keepDims) };
  };
}

/**
 * A sum or mean over trailing axes (global average pooling) by the team, each row of the
 * reduced axes summed in order in f64 (as the reference does in JavaScript numbers) and
 * rounded once; undefined for other axes.
 */
function sumTrailing(
  ctx: OpContext,
  x: Dense,
  axes: readonly number[],
  kind: "sum" | "mean",
  keepDims: boolean,
): Dense | undefined {
  const simd = ctx.simd!;
  const rank = x.shape.length;
  const reduced = [...new Set(axes)].sort((a, b) => a - b);
  if (reduced.length === 0 || reduced.some((axis, i) => axis !== rank - reduced.length + i)) {
    return undefined;
  }
  const inner = elementCount(x.shape.slice(rank - reduced.length));
  const outer = elementCount(x.shape.slice(0, rank - reduced.length));
  if (inner === 0) return undefined;
  const out = simd.output(outer);
  runRows(simd.team, {
    kernel: kind === "mean" ? RowKernel.Mean : RowKernel.Sum,
    src: simd.input(x.data).byteOffset,
    dst: out.byteOffset,
    rows: outer,
    n: inner,
  });
  const kept = x.shape.slice(0, rank - reduced.length);
  return { shape: keepDims ? [...kept, ...reduced.map(() => 1)] : kept, data: out };
}

function argReduction(kind: "argmax" | "argmin"): OpKernel {
  return (ctx) => {
    const x = ctx.tensor("x");
    const axis = normalizeAxis(ctx.int("axis", -1), x.shape.length);
    return { dtype: "int32", ...reduce(x, [axis], kind, ctx.bool("keep_dims", false)) };
  };
}

/** Index into a per-channel parameter (axis 1) of the element at flat index i. */
function channelIndexer(shape: readonly number[]): (i: number) => number {
  const channels = shape[1] ?? 1;
  const inner = elementCount(shape.slice(2));
  return (i) => Math.floor(i / inner) % channels;
}

function perChannel(
  values: Float32Array | undefined,
  shape: readonly number[],
  fallback: number,
): (i: number) => number {
  if (!values) return () => fallback;
  const channel = channelIndexer(shape);
  return values.length === 1 ? () => values[0] : (i) => values[channel(i)];
}

const batchNorm: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const mean = perChannel(ctx.tensor("mean").data, x.shape, 0);
  const variance = perChannel(ctx.tensor("variance").data, x.shape, 1);
  const gamma = perChannel(ctx.optionalTensor("gamma")?.data, x.shape, 1);
  const beta = perChannel(ctx.optionalTensor("beta")?.data, x.shape, 0);
  const eps = ctx.float("epsilon", 1e-5);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = ((x.data[i] - mean(i)) / Math.sqrt(variance(i) + eps)) * gamma(i) + beta(i);
  }
  return { dtype: x.dtype, shape: x.shape, data: out };
};

const instanceNorm: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axes = x.shape.map((_, i) => i).slice(2);
  const gamma = perChannel(ctx.optionalTensor("gamma")?.data, x.shape, 1);
  const beta = perChannel(ctx.optionalTensor("beta")?.data, x.shape, 0);
  return { dtype: x.dtype, ...normalize(x, axes, ctx.float("epsilon", 1e-5), gamma, beta) };
};

/** Index into a parameter laid out over the normalized `axes` of `shape`, for flat index i. */
function axesIndexer(shape: readonly number[], axes: readonly number[]): (i: number) => number {
  const strides = stridesOf(shape);
  const paramStrides = stridesOf(axes.map((a) => shape[a]));
  return (i) => {
    let index = 0;
    for (let k = 0; k < axes.length; k++)
      index += (Math.floor(i / strides[axes[k]]) % shape[axes[k]]) * paramStrides[k];
    return index;
  };
}

const layerNorm: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const rank = x.shape.length;
  const axes = (
    ctx.has("axes") ? ctx.ints("axes").map((a) => normalizeAxis(a, rank)) : x.shape.map((_, i) => i)
  ).sort((a, b) => a - b);
  const gamma = ctx.optionalTensor("gamma")?.data;
  const beta = ctx.optionalTensor("beta")?.data;
  const epsilon = ctx.float("epsilon", 1e-5);
  const inner = axes.reduce((size, a) => size * x.shape[a], 1);
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  const simd = ctx.simd;
  const fits = trailing && [gamma, beta].every((p) => !p || p.length === inner) && inner > 0;
  if (fits && simd && inner % 4 === 0) {
    const out = simd.output(x.data.length);
    const weights = (values: Float32Array | undefined, input: string) =>
      values && (ctx.isConstant(input) ? simd.constant(values) : simd.input(values).byteOffset);
    runRows(simd.team, {
      kernel: RowKernel.LayerNorm,
      src: simd.input(x.data).byteOffset,
      dst: out.byteOffset,
      rows: x.data.length / inner,
      n: inner,
      gamma: weights(gamma, "gamma"),
      beta: weights(beta, "beta"),
      epsilon,
    });
    return { dtype: x.dtype, shape: x.shape, data: out };
  }
  if (fits) {
    return { dtype: x.dtype, ...normalizeRuns(x, inner, epsilon, gamma, beta, ctx.allocate) };
  }
  const index = axesIndexer(x.shape, axes);
  const result = normalize(
    x,
    axes,
    epsilon,
    gamma ? (i) => gamma[index(i)] : () => 1,
    beta ? (i) => beta[index(i)] : () => 0,
  );
  return { dtype: x.dtype, ...result };
};

function recurrentSetup(ctx: OpContext) {
  const x = ctx.tensor("x");
  const [steps, batch, inputSize] = x.shape;
  const direction = ctx.string("direction", "forward");
  if (!["forward", "reverse", "bidirectional"].includes(direction))
    ctx.fail(`unknown direction "${direction}"`);
  const directions = direction === "bidirectional" ? 2 : 1;
  const activation = (input: string, fallback: string) => {
    const name = ctx.string(input, fallback);
    try {
      return namedActivation(name);
    } catch {
      return ctx.fail(`unknown ${input} "${name}"`);
    }
  };
  return {
    x,
    steps,
    batch,
    inputSize,
    direction,
    directions,
    activation,
    sequence: ctx.bool("output_sequence", false),
  };
}

/** Splits a [batch, D·H] state into one [batch, H] state per direction. */
function splitState(
  state: Float32Array,
  batch: number,
  hidden: number,
  direction: number,
  directions: number,
): Float32Array {
  const out = new Float32Array(batch * hidden);
  for (let b = 0; b < batch; b++) {
    out.set(
      state.subarray(
        (b * directions + direction) * hidden,
        (b * directions + direction + 1) * hidden,
      ),
      b * hidden,
    );
  }
  return out;
}

/** Joins per-direction [rows, H] results into [rows, D·H]. */
function joinDirections(parts: Float32Array[], rows: number, hidden: number): Float32Array {
  const out = new Float32Array(rows * hidden * parts.length);
  for (let r = 0; r < rows; r++) {
    parts.forEach((p, d) =>
      out.set(p.subarray(r * hidden, (r + 1) * hidden), (r * parts.length + d) * hidden),
    );
  }
  return out;
}

const lstmKernel: OpKernel = (ctx) => {
  const setup = recurrentSetup(ctx);
  const { x, steps, batch, inputSize, direction, directions } = setup;
  const hidden = ctx.tensor("weight_hh").shape[1];
  const h0 = ctx.tensor("initial_h").data;
  const c0 = ctx.tensor("initial_c").data;
  const gate = setup.activation("recurrent_activation", "sigmoid");
  const cell = setup.activation("cell_activation", "tanh");
  const output = setup.activation("activation", "tanh");
  const clip = ctx.has("clip") ? ctx.float("clip") : undefined;
  const run = (d: number, suffix: string, reverse: boolean) =>
    lstm(
      x.data,
      steps,
      batch,
      inputSize,
      hidden,
      splitState(h0, batch, hidden, d, directions),
      splitState(c0, batch, hidden, d, directions),
      {
        inputWeights: ctx.tensor(`weight_ih${suffix}`).data,
        recurrentWeights: ctx.tensor(`weight_hh${suffix}`).data,
        bias: ctx.optionalTensor(`bias${suffix}`)?.data,
        peephole: ctx.optionalTensor(`peephole${suffix}`)?.data,
      },
      { reverse, gate, cell, output, clip },
    );
  const results =
    directions === 2
      ? [run(0, "", false), run(1, "_back", true)]
      : [run(0, "", direction === "reverse")];
  const dh = directions * hidden;
  const h = joinDirections(
    results.map((r) => r.h),
    batch,
    hidden,
  );
  const c = joinDirections(
    results.map((r) => r.c),
    batch,
    hidden,
  );
  const sequence = setup.sequence
    ? joinDirections(
        results.map((r) => r.sequence),
        steps * batch,
        hidden,
      )
    : h;
  return [
    {
      dtype: x.dtype,
      shape: setup.sequence ? [steps, batch, dh] : [1, batch, dh],
      data: Float32Array.from(sequence),
    },
    { dtype: x.dtype, shape: [batch, dh], data: h },
    { dtype: x.dtype, shape: [batch, dh], data: c },
  ];
};

const gruKernel: OpKernel = (ctx) => {
  const setup = recurrentSetup(ctx);
  const { x, steps, batch, inputSize, direction } = setup;
  if (setup.directions !== 1) ctx.fail("gru has no bidirectional mode");
  const hidden = ctx.tensor("weight_hh").shape[1];
  const result = gru(
    x.data,
    steps,
    batch,
    inputSize,
    hidden,
    ctx.tensor("initial_h").data,
    ctx.tensor("weight_ih").data,
    ctx.tensor("weight_hh").data,
    ctx.optionalTensor("bias")?.data,
    {
      reverse: direction === "reverse",
      gate: setup.activation("recurrent_activation", "sigmoid"),
      output: setup.activation("activation", "tanh"),
    },
  );
  return [
    {
      dtype: x.dtype,
      shape: setup.sequence ? [steps, batch, hidden] : [1, batch, hidden],
      data: setup.sequence ? result.sequence : Float32Array.from(result.h),
    },
    { dtype: x.dtype, shape: [batch, hidden], data: result.h },
  ];
};

/**
 * classify: the label of the most probable class, and the probabilities (a dictionary in the
 * program, returned here as the vector in class order).
 */
const classify: OpKernel = (ctx) => {
  const probabilities = ctx.tensor("probabilities");
  const classes = ctx.value("classes");
  if (classes.dtype === "list") return ctx.fail("classes must be a tensor or list literal");
  const scores = probabilities.data;
  if (scores.length !== classes.data.length) {
    ctx.fail(`${scores.length} probabilities for ${classes.data.length} classes`);
  }
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  const label: RuntimeValue = isNumeric(classes)
    ? { dtype: classes.dtype, shape: [], data: Float32Array.of(classes.data[best]) }
    : { dtype: "string", shape: [], data: [classes.data[best]] };
  return [label, { dtype: "fp32", shape: [scores.length], data: Float32Array.from(scores) }];
};

/** softmax(Q·Kᵀ/√E + mask)·V; a bool mask keeps positions where it is true. */
const scaledDotProductAttention: OpKernel = (ctx) => {
  const query = ctx.tensor("query");
  const key = ctx.tensor("key");
  const embedding = query.shape[query.shape.length - 1];
  const scores = matmul(query, key, false, true, ctx.gemm);
  const scale = 1 / Math.sqrt(embedding);
  for (let i = 0; i < scores.data.length; i++) scores.data[i] *= scale;
  const mask = ctx.optionalTensor("attn_mask");
  const masked = mask
    ? mapBinary(
        scores,
        mask,
        mask.dtype === "bool" ? (s, m) => (m !== 0 ? s : -Infinity) : (s, m) => s + m,
      )
    : scores;
  const weights = softmax(masked, masked.shape.length - 1);
  return { dtype: query.dtype, ...matmul(weights, ctx.tensor("value"), false, false, ctx.gemm) };
};

export const NN_KERNELS: Record<string, OpKernel> = {
  classify,
  scaled_dot_product_attention: scaledDotProductAttention,
  linear: (ctx) => {
    const x = ctx.tensor("x");
    const weight = ctx.tensor("weight");
    const bias = ctx.optionalTensor("bias")?.data;
    const residual = ctx.services.residual;
    let added = false;
    const result =
      ctx.simd && x.data.length > 0 && weight.data.length > 0
        ? simdLinear(ctx, ctx.simd, x, weight, bias, residual, () => (added = true))
        : linear(x, weight, bias, ctx.gemm);
    const sum = residual && !added ? arithmetic(result, residual, "add", ctx.allocate) : result;
    return { dtype: x.dtype, ...sum };
  },
  matmul: (ctx) => {
    const x = ctx.tensor("x");
    const y = ctx.tensor("y");
    const [transposeX, transposeY] = [
      ctx.bool("transpose_x", false),
      ctx.bool("transpose_y", false),
    ];
    const result =
      ctx.simd && x.data.length > 0 && y.data.length > 0
        ? simdMatmul(ctx.simd, x, y, transposeX, transposeY)
        : matmul(x, y, transposeX, transposeY, ctx.gemm);
    return { dtype: x.dtype, ...result };
  },
  conv,
  conv_transpose: convTranspose,
  max_pool: pool("max"),
  avg_pool: pool("avg"),
  batch_norm: batchNorm,
  instance_norm: instanceNorm,
  layer_norm: layerNorm,
  softmax: (ctx) => {
    const x = ctx.tensor("x");
    const axis = normalizeAxis(ctx.int("axis", -1), x.shape.length);
    const n = x.shape[axis];
    const simd = ctx.simd;
    if (simd && axis === x.shape.length - 1 && n % 4 === 0 && x.data.length > 0) {
      const out = simd.output(x.data.length);
      const src = simd.input(x.data).byteOffset;
      const rows = x.data.length / n;
      runRows(simd.team, { kernel: RowKernel.Softmax, src, dst: out.byteOffset, rows, n });
      return { dtype: x.dtype, shape: x.shape, data: out };
    }
    return { dtype: x.dtype, ...softmax(x, axis, ctx.allocate) };
  },
  reduce_sum: reduction("sum"),
  reduce_mean: reduction("mean"),
  reduce_max: reduction("max"),
  reduce_min: reduction("min"),
  reduce_prod: reduction("prod"),
  reduce_sum_square: reduction("sum_square"),
  reduce_l1_norm: reduction("l1_norm"),
  reduce_l2_norm: reduction("l2_norm"),
  reduce_log_sum: reduction("log_sum"),
  reduce_log_sum_exp: reduction("log_sum_exp"),
  reduce_argmax: argReduction("argmax"),
  reduce_argmin: argReduction("argmin"),
  lstm: lstmKernel,
  gru: gruKernel,
  upsample_nearest_neighbor: (ctx) => {
    const x = ctx.tensor("x");
    const sh = ctx.float("scale_factor_height", 1);
    const sw = ctx.float("scale_factor_width", 1);
    const h = x.shape[x.shape.length - 2];
    const w = x.shape[x.shape.length - 1];
    return {
      dtype: x.dtype,
      ...upsampleNearest(x, Math.floor(h * sh), Math.floor(w * sw), sh, sw),
    };
  },
};
