/** Control flow and list MIL ops: while_loop, cond, make_list and the list_* family. */
import { ELEMENT_TYPES, elementCount } from "../../kernels/dtype.js";

import type { OpContext, OpKernel } from "../kernel.js";
import {
  isNumeric,
  type ListValue,
  type NumericType,
  type NumericValue,
  type RuntimeValue,
} from "../value.js";

/** Guards against programs whose loop condition never turns false. */
const MAX_ITERATIONS = 10_000_000;

function truthy(ctx: OpContext, value: RuntimeValue): boolean {
  if (!isNumeric(value) || value.data.length !== 1) ctx.fail("the condition must be a scalar");
  return value.data[0] !== 0;
}

const whileLoop: OpKernel = (ctx) => {
  let vars = ctx.values("loop_vars");
  if (ctx.op.blocks.length !== 2) ctx.fail("expected a condition block and a body block");
  for (let i = 0; ; i++) {
    if (i >= MAX_ITERATIONS) ctx.fail(`did not stop after ${MAX_ITERATIONS} iterations`);
    if (!truthy(ctx, ctx.runBlock(0, vars)[0])) return vars;
    vars = ctx.runBlock(1, vars);
  }
};

const cond: OpKernel = (ctx) => ctx.runBlock(truthy(ctx, ctx.value("pred")) ? 0 : 1, []);

function list(ctx: OpContext, input = "ls"): ListValue {
  const value = ctx.value(input);
  if (value.dtype !== "list") return ctx.fail(`input "${input}" must be a list`);
  return value;
}

function index(ctx: OpContext, ls: ListValue, at: number, writing: boolean): number {
  const i = at < 0 ? at + ls.data.length : at;
  if (i < 0 || (i >= ls.data.length && !(writing && ls.dynamic))) {
    ctx.fail(`index ${at} is outside the list of length ${ls.data.length}`);
  }
  return i;
}

/** An element, zeros of the list's element shape when never written. */
function element(ctx: OpContext, ls: ListValue, i: number): NumericValue {
  const item = ls.data[i];
  if (item) return item;
  const shape = ls.data.find((written) => written)?.shape ?? ls.elementShape;
  if (shape.some((d) => d < 0)) ctx.fail("reading an unwritten element of unknown shape");
  return { dtype: ls.elementType, shape, data: new Float32Array(elementCount(shape)) };
}

function withItems(ls: ListValue, items: (NumericValue | undefined)[]): ListValue {
  return { ...ls, data: items };
}

const makeList: OpKernel = (ctx) => {
  const elementType = ctx.string("dtype", "fp32") as NumericType;
  if (!(elementType in ELEMENT_TYPES) || (elementType as string) === "string") {
    ctx.fail(`unsupported list element type "${elementType}"`);
  }
  // Dimensions may be symbolic (strings); those are unknown (-1) until elements are written.
  const shape = ctx.has("elem_shape")
    ? ctx
        .values("elem_shape")
        .flatMap((v) => (isNumeric(v) ? Array.from(v.data) : v.data.map(() => -1)))
    : [];
  return {
    dtype: "list",
    elementType,
    elementShape: shape,
    data: new Array<NumericValue | undefined>(ctx.int("init_length", 1)).fill(undefined),
    dynamic: ctx.bool("dynamic_length", true),
  };
};

export const CONTROL_KERNELS: Record<string, OpKernel> = {
  while_loop: whileLoop,
  cond,
  make_list: makeList,
  list_length: (ctx) => ({
    dtype: "int32",
    shape: [],
    data: Float32Array.of(list(ctx).data.length),
  }),
  list_read: (ctx) => {
    const ls = list(ctx);
    return element(ctx, ls, index(ctx, ls, ctx.int("index"), false));
  },
  list_write: (ctx) => {
    const ls = list(ctx);
    const i = index(ctx, ls, ctx.int("index"), true);
    const items = [...ls.data];
    while (items.length <= i) items.push(undefined);
    items[i] = ctx.tensor("value");
    return withItems(ls, items);
  },
  list_gather: (ctx) => {
    const ls = list(ctx);
    const picked = ctx.ints("indices").map((at) => element(ctx, ls, index(ctx, ls, at, false)));
    const shape = picked[0]?.shape ?? ls.elementShape;
    const size = elementCount(shape);
    const data = new Float32Array(picked.length * size);
    picked.forEach((item, k) => {
      if (item.data.length !== size) ctx.fail("list elements differ in shape");
      data.set(item.data, k * size);
    });
    return { dtype: ls.elementType, shape: [picked.length, ...shape], data };
  },
  list_scatter: (ctx) => {
    const ls = list(ctx);
    const value = ctx.tensor("value");
    const positions = ctx.ints("indices");
    const shape = value.shape.slice(1);
    const size = elementCount(shape);
    const items = [...ls.data];
    positions.forEach((at, k) => {
      const i = index(ctx, { ...ls, data: items }, at, true);
      while (items.length <= i) items.push(undefined);
      items[i] = { dtype: value.dtype, shape, data: value.data.slice(k * size, (k + 1) * size) };
    });
    return withItems(ls, items);
  },
};
