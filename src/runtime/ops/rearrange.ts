/**
 * Less common tensor ops: bilinear upsampling, depth/space rearrangements, reverse, top-k,
 * cumulative sums and one-hot encoding.
 */
import { transpose } from "../../kernels/ops/layout.js";
import { normalizeAxis, sizeOf, stridesOf } from "../../kernels/ops/shape.js";
import type { OpContext, OpKernel } from "../kernel.js";
import type { NumericValue } from "../value.js";

/** Source coordinates of each output position along one axis (MIL's two grid conventions). */
function grid(input: number, output: number, alignCorners: boolean): Float64Array {
  const points = new Float64Array(output);
  for (let i = 0; i < output; i++) {
    const p = alignCorners
      ? output > 1
        ? (i * (input - 1)) / (output - 1)
        : 0
      : ((i + 0.5) * input) / output - 0.5;
    points[i] = Math.min(input - 1, Math.max(0, p));
  }
  return points;
}

const upsampleBilinear: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const h = x.shape[x.shape.length - 2];
  const w = x.shape[x.shape.length - 1];
  const oh = Math.floor(h * ctx.float("scale_factor_height", 1));
  const ow = Math.floor(w * ctx.float("scale_factor_width", 1));
  const align = ctx.bool("align_corners", true);
  const ys = grid(h, oh, align);
  const xs = grid(w, ow, align);
  const planes = x.data.length / (h * w);
  const out = new Float32Array(planes * oh * ow);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < oh; i++) {
      const y0 = Math.floor(ys[i]);
      const y1 = Math.min(h - 1, y0 + 1);
      const fy = ys[i] - y0;
      for (let j = 0; j < ow; j++) {
        const x0 = Math.floor(xs[j]);
        const x1 = Math.min(w - 1, x0 + 1);
        const fx = xs[j] - x0;
        const at = (yy: number, xx: number) => x.data[(p * h + yy) * w + xx];
        const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
        const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
        out[(p * oh + i) * ow + j] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { dtype: x.dtype, shape: [...x.shape.slice(0, -2), oh, ow], data: out };
};

/**
 * Moves channel blocks into space: `channelsFirst` (pixel_shuffle, PyTorch's order) reads
 * channel c·b² + i·b + j, otherwise (depth_to_space, TensorFlow's order) (i·b + j)·C' + c.
 */
function depthToSpace(ctx: OpContext, block: number, channelsFirst: boolean): NumericValue {
  const x = ctx.tensor("x");
  const [n, c, h, w] = x.shape;
  const oc = c / (block * block);
  if (!Number.isInteger(oc)) ctx.fail(`${c} channels do not split into blocks of ${block}²`);
  const view = channelsFirst ? [n, oc, block, block, h, w] : [n, block, block, oc, h, w];
  const perm = channelsFirst ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
  const moved = transpose({ shape: view, data: x.data }, perm);
  return { dtype: x.dtype, shape: [n, oc, h * block, w * block], data: moved.data };
}

const spaceToDepth: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const block = ctx.int("block_size");
  const [n, c, h, w] = x.shape;
  const view = [n, c, h / block, block, w / block, block];
  const moved = transpose({ shape: view, data: x.data }, [0, 3, 5, 1, 2, 4]);
  return { dtype: x.dtype, shape: [n, c * block * block, h / block, w / block], data: moved.data };
};

/** Calls `visit(base, stride, length)` for every line of `shape` along `axis`. */
function forEachLine(
  shape: readonly number[],
  axis: number,
  visit: (base: number, stride: number, length: number) => void,
): void {
  const stride = stridesOf(shape)[axis];
  const length = shape[axis];
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let inner = 0; inner < stride; inner++) visit(o * length * stride + inner, stride, length);
  }
}

const reverse: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axes = ctx.has("axes")
    ? ctx.ints("axes").map((a) => normalizeAxis(a, x.shape.length))
    : x.shape.map((_, i) => i);
  let data = Float32Array.from(x.data);
  for (const axis of axes) {
    const next = new Float32Array(data.length);
    forEachLine(x.shape, axis, (base, stride, length) => {
      for (let k = 0; k < length; k++)
        next[base + k * stride] = data[base + (length - 1 - k) * stride];
    });
    data = next;
  }
  return { dtype: x.dtype, shape: x.shape, data };
};

const topk: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axis = normalizeAxis(ctx.int("axis", -1), x.shape.length);
  const k = ctx.int("k", 1);
  const ascending = ctx.bool("ascending", false);
  const shape = x.shape.map((d, i) => (i === axis ? k : d));
  const values = new Float32Array(sizeOf(shape));
  const indices = new Float32Array(values.length);
  const outStride = stridesOf(shape)[axis];
  let line = 0;
  forEachLine(x.shape, axis, (base, stride, length) => {
    const order = Array.from({ length }, (_, i) => i);
    // A stable sort keeps the lower index first among equal values.
    order.sort((a, b) => {
      const d = x.data[base + a * stride] - x.data[base + b * stride];
      return ascending ? d : -d;
    });
    const outer = Math.floor(line / outStride);
    const outBase = outer * k * outStride + (line % outStride);
    for (let j = 0; j < k; j++) {
      values[outBase + j * outStride] = x.data[base + order[j] * stride];
      indices[outBase + j * outStride] = order[j];
    }
    line++;
  });
  return [
    { dtype: x.dtype, shape, data: values },
    { dtype: "int32", shape, data: indices },
  ];
};

const cumsum: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axis = normalizeAxis(ctx.int("axis", 0), x.shape.length);
  const exclusive = ctx.bool("exclusive", false);
  const backwards = ctx.bool("reverse", false);
  const out = new Float32Array(x.data.length);
  forEachLine(x.shape, axis, (base, stride, length) => {
    let sum = 0;
    for (let n = 0; n < length; n++) {
      const k = backwards ? length - 1 - n : n;
      const at = base + k * stride;
      if (exclusive) {
        out[at] = sum;
        sum += x.data[at];
      } else {
        sum += x.data[at];
        out[at] = sum;
      }
    }
  });
  return { dtype: x.dtype, shape: x.shape, data: out };
};

const oneHot: OpKernel = (ctx) => {
  const indices = ctx.tensor("indices");
  const depth = ctx.int("one_hot_vector_size");
  const rank = indices.shape.length + 1;
  const axis = normalizeAxis(ctx.int("axis", -1), rank);
  const on = ctx.float("on_value", 1);
  const off = ctx.float("off_value", 0);
  const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
  const inner = sizeOf(indices.shape.slice(axis));
  const out = new Float32Array(sizeOf(shape)).fill(off);
  indices.data.forEach((value, i) => {
    if (value < 0 || value >= depth) return;
    const outer = Math.floor(i / inner);
    out[(outer * depth + value) * inner + (i % inner)] = on;
  });
  return { dtype: "fp32", shape, data: out };
};

export const REARRANGE_KERNELS: Record<string, OpKernel> = {
  upsample_bilinear: upsampleBilinear,
  pixel_shuffle: (ctx) => depthToSpace(ctx, ctx.int("upscale_factor"), true),
  depth_to_space: (ctx) => depthToSpace(ctx, ctx.int("block_size"), false),
  space_to_depth: spaceToDepth,
  reverse,
  topk,
  cumsum,
  one_hot: oneHot,
};
