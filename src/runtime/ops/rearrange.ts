/**
 * Less common tensor ops: bilinear upsampling, depth/space rearrangements, reverse, top-k,
 * cumulative sums and one-hot encoding.
 */
import { transpose } from "../../kernels/ops/movement.js";
import { bilinearResize } from "../../kernels/ops/resample.js";
import { cumulativeSum, oneHot, reverseAxes, topK } from "../../kernels/ops/lines.js";
import { normalizeAxis } from "../../kernels/ops/shape.js";
import type { OpContext, OpKernel } from "../kernel.js";
import type { NumericValue } from "../value.js";

const upsampleBilinear: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const h = x.shape[x.shape.length - 2];
  const w = x.shape[x.shape.length - 1];
  const oh = Math.floor(h * ctx.float("scale_factor_height", 1));
  const ow = Math.floor(w * ctx.float("scale_factor_width", 1));
  const grid = ctx.bool("align_corners", true) ? "align_corners" : "half_pixel";
  return { dtype: x.dtype, ...bilinearResize(x, oh, ow, grid) };
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

const reverse: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axes = ctx.has("axes")
    ? ctx.ints("axes").map((a) => normalizeAxis(a, x.shape.length))
    : x.shape.map((_, i) => i);
  return { dtype: x.dtype, ...reverseAxes(x, axes) };
};

const topk: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axis = normalizeAxis(ctx.int("axis", -1), x.shape.length);
  const { values, indices } = topK(x, axis, ctx.int("k", 1), ctx.bool("ascending", false));
  return [
    { dtype: x.dtype, ...values },
    { dtype: "int32", ...indices },
  ];
};

const cumsum: OpKernel = (ctx) => {
  const x = ctx.tensor("x");
  const axis = normalizeAxis(ctx.int("axis", 0), x.shape.length);
  const exclusive = ctx.bool("exclusive", false);
  return { dtype: x.dtype, ...cumulativeSum(x, axis, exclusive, ctx.bool("reverse", false)) };
};

const oneHotOp: OpKernel = (ctx) => {
  const indices = ctx.tensor("indices");
  const axis = normalizeAxis(ctx.int("axis", -1), indices.shape.length + 1);
  const depth = ctx.int("one_hot_vector_size");
  const on = ctx.float("on_value", 1);
  return { dtype: "fp32", ...oneHot(indices, depth, axis, on, ctx.float("off_value", 0)) };
};

export const REARRANGE_KERNELS: Record<string, OpKernel> = {
  upsample_bilinear: upsampleBilinear,
  pixel_shuffle: (ctx) => depthToSpace(ctx, ctx.int("upscale_factor"), true),
  depth_to_space: (ctx) => depthToSpace(ctx, ctx.int("block_size"), false),
  space_to_depth: spaceToDepth,
  reverse,
  topk,
  cumsum,
  one_hot: oneHotOp,
};
