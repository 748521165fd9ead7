/** Shape and data-movement MIL ops: reshape, transpose, concat, split, slices, gathers, pad... */
import {
  concat,
  gather,
  gatherAlongAxis,
  interleave,
  pad,
  stridedSlice,
  tile,
  mergeAxes,
  transpose,
  type PadMode,
} from "../../kernels/ops/movement.js";
import { normalizeAxis, reshapeTarget, resolveSlice, stridesOf } from "../../kernels/ops/shape.js";
import { elementCount } from "../../kernels/dtype.js";
import type { OpContext, OpKernel } from "../kernel.js";
import type { SimdRuntime } from "../simd.js";
import type { NumericValue } from "../value.js";

function withShape(x: NumericValue, shape: readonly number[]): NumericValue {
  return { dtype: x.dtype, shape, data: x.data };
}

function reshape(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const requested = ctx.ints("shape");
  const shape = reshapeTarget(x.shape, requested);
  if (!shape) ctx.fail(`cannot reshape [${x.shape.join(",")}] to [${requested.join(",")}]`);
  return withShape(x, shape);
}

function sliceByIndex(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const rank = x.shape.length;
  const begin = ctx.ints("begin");
  const end = ctx.ints("end");
  const stride = ctx.ints("stride", new Array<number>(rank).fill(1));
  const mask = (input: string) =>
    ctx.ints(input, new Array<number>(rank).fill(0)).map((v) => v !== 0);
  const beginMask = mask("begin_mask");
  const endMask = mask("end_mask");
  const squeezeMask = mask("squeeze_mask");
  const starts: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (stride[i] === 0) ctx.fail("stride 0");
    if (squeezeMask[i]) {
      const at = begin[i] < 0 ? begin[i] + x.shape[i] : begin[i];
      starts.push(at);
      sizes.push(1);
      continue;
    }
    const [start, count] = resolveSlice(
      x.shape[i],
      beginMask[i] ? null : begin[i],
      endMask[i] ? null : end[i],
      stride[i],
    );
    starts.push(start);
    sizes.push(count);
  }
  const result = stridedSlice(x, starts, sizes, stride, ctx.allocate);
  return withShape(
    { dtype: x.dtype, ...result },
    sizes.filter((_, i) => !squeezeMask[i]),
  );
}

function sliceBySize(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const begin = ctx.ints("begin").map((b, i) => (b < 0 ? b + x.shape[i] : b));
  const size = ctx.ints("size").map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  return {
    dtype: x.dtype,
    ...stridedSlice(
      x,
      begin,
      size,
      size.map(() => 1),
      ctx.allocate,
    ),
  };
}

function split(ctx: OpContext): NumericValue[] {
  const x = ctx.tensor("x");
  const axis = normalizeAxis(ctx.int("axis"), x.shape.length);
  let sizes: number[];
  if (ctx.has("split_sizes")) sizes = ctx.ints("split_sizes");
  else {
    const parts = ctx.has("num_splits") ? ctx.int("num_splits") : ctx.outputs.length;
    const each = Math.ceil(x.shape[axis] / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.min(each, x.shape[axis] - i * each));
  }
  let start = 0;
  return sizes.map((size) => {
    const begin = x.shape.map((_, i) => (i === axis ? start : 0));
    const shape = x.shape.map((d, i) => (i === axis ? size : d));
    start += size;
    return {
      dtype: x.dtype,
      ...stridedSlice(
        x,
        begin,
        shape,
        shape.map(() => 1),
        ctx.allocate,
      ),
    };
  });
}

/**
 * transpose in the SIMD heap: the strided read's rows (its axes merged as the plain kernel
 * merges them) copied by the kernel, contiguous ones by vectors. Anything but a permutation
 * of the axes goes to the plain kernel.
 */
function simdTranspose(simd: SimdRuntime, x: NumericValue, perm: number[]): NumericValue {
  const rank = x.shape.length;
  if (
    rank === 0 ||
    perm.length !== rank ||
    new Set(perm).size !== rank ||
    perm.some((p) => !(p >= 0 && p < rank))
  ) {
    return { dtype: x.dtype, ...transpose(x, perm) };
  }
  const shape = perm.map((p) => x.shape[p]);
  const inStrides = stridesOf(x.shape);
  const out = simd.output(elementCount(shape));
  if (out.length > 0) {
    const merged = mergeAxes(
      shape,
      perm.map((p) => inStrides[p]),
    );
    const outer = merged.shape.length - 1;
    const inner = merged.shape[outer];
    // Per outer axis its size and stride in bytes, then room for the kernel's counters.
    const axes = simd.scratch(Math.max(1, 3 * outer)).byteOffset;
    const table = simd.heap.ints(axes, 3 * outer);
    for (let d = 0; d < outer; d++) {
      table[2 * d] = merged.shape[d];
      table[2 * d + 1] = merged.strides[d] * 4;
    }
    simd.heap.elementwise.gatherRows(
      simd.input(x.data).byteOffset,
      out.byteOffset,
      inner,
      merged.strides[outer] * 4,
      axes,
      outer,
      out.length / inner,
    );
  }
  return { dtype: x.dtype, shape, data: out };
}

function squeeze(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const axes = ctx.has("axes")
    ? new Set(ctx.ints("axes").map((a) => normalizeAxis(a, x.shape.length)))
    : new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
  return withShape(
    x,
    x.shape.filter((_, i) => !axes.has(i)),
  );
}

function expandDims(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const rank = x.shape.length + ctx.ints("axes").length;
  const axes = new Set(ctx.ints("axes").map((a) => normalizeAxis(a, rank)));
  const shape: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(axes.has(i) ? 1 : x.shape[k++]);
  return withShape(x, shape);
}

function concatOp(ctx: OpContext): NumericValue {
  const values = ctx.tensors("values");
  const axis = normalizeAxis(ctx.int("axis"), values[0].shape.length);
  const result = ctx.bool("interleave", false) ? interleave(values, axis) : concat(values, axis);
  return { dtype: values[0].dtype, ...result };
}

function stack(ctx: OpContext): NumericValue {
  const values = ctx.tensors("values");
  const axis = normalizeAxis(ctx.int("axis"), values[0].shape.length + 1);
  const expanded = values.map((v) =>
    withShape(v, [...v.shape.slice(0, axis), 1, ...v.shape.slice(axis)]),
  );
  return { dtype: values[0].dtype, ...concat(expanded, axis) };
}

function padOp(ctx: OpContext): NumericValue {
  const x = ctx.tensor("x");
  const flat = ctx.ints("pad");
  const padded = flat.length / 2;
  const pads = x.shape.map((_, i): [number, number] => {
    const j = i - (x.shape.length - padded);
    return j < 0 ? [0, 0] : [flat[2 * j], flat[2 * j + 1]];
  });
  const mode = ctx.string("mode", "constant") as PadMode;
  if (!["constant", "reflect", "replicate"].includes(mode)) ctx.fail(`unknown pad mode "${mode}"`);
  return { dtype: x.dtype, ...pad(x, pads, mode, ctx.float("constant_val", 0)) };
}

export const LAYOUT_KERNELS: Record<string, OpKernel> = {
  reshape,
  transpose: (ctx) => {
    const simd = ctx.simd;
    if (simd) return simdTranspose(simd, ctx.tensor("x"), ctx.ints("perm"));
    const x = ctx.tensor("x");
    const perm = ctx.ints("perm").map((p) => normalizeAxis(p, x.shape.length));
    return { dtype: x.dtype, ...transpose(x, perm, ctx.allocate) };
  },
  slice_by_index: sliceByIndex,
  slice_by_size: sliceBySize,
  split,
  squeeze,
  expand_dims: expandDims,
  concat: concatOp,
  stack,
  pad: padOp,
  tile: (ctx) => {
    const x = ctx.tensor("x");
    return { dtype: x.dtype, ...tile(x, ctx.ints("reps")) };
  },
  gather: (ctx) => {
    const x = ctx.tensor("x");
    const axis = normalizeAxis(ctx.int("axis", 0), x.shape.length);
    return { dtype: x.dtype, ...gather(x, ctx.tensor("indices"), axis, ctx.int("batch_dims", 0)) };
  },
  gather_along_axis: (ctx) => {
    const x = ctx.tensor("x");
    const axis = normalizeAxis(ctx.int("axis", 0), x.shape.length);
    return { dtype: x.dtype, ...gatherAlongAxis(x, ctx.tensor("indices"), axis) };
  },
  flatten2d: (ctx) => {
    const x = ctx.tensor("x");
    const axis = normalizeAxis(ctx.int("axis", 1), x.shape.length + 1);
    return withShape(x, [elementCount(x.shape.slice(0, axis)), elementCount(x.shape.slice(axis))]);
  },
  shape: (ctx) => {
    const x = ctx.tensor("x");
    return { dtype: "int32", shape: [x.shape.length], data: Float32Array.from(x.shape) };
  },
  fill: (ctx) => {
    const shape = ctx.ints("shape");
    return {
      dtype: "fp32",
      shape,
      data: new Float32Array(elementCount(shape)).fill(ctx.float("value", 0)),
    };
  },
  range_1d: (ctx) => {
    const start = ctx.float("start");
    const end = ctx.float("end");
    const step = ctx.float("step");
    const count = Math.max(0, Math.ceil((end - start) / step));
    return {
      dtype: "fp32",
      shape: [count],
      data: Float32Array.from({ length: count }, (_, i) => start + i * step),
    };
  },
};
