/** Elementwise MIL ops: arithmetic, comparisons, logic, activations, cast and select. */
import {
  arithmetic,
  erf,
  geluExact,
  mapBinary,
  mapUnary,
  repeatLength,
  select,
  type Arithmetic,
  type Dense,
} from "../../kernels/ops/elementwise.js";
import { broadcastShapes } from "../../kernels/ops/shape.js";
import { elementCount } from "../../kernels/dtype.js";
import { RowKernel, runRows } from "../../kernels/simd/gemm.js";
import { runArithmetic } from "../../kernels/simd/streams.js";
import { GELU, sigmoid, type GeluMode } from "../../kernels/ops/activations.js";
import type { OpContext, OpKernel } from "../kernel.js";
import { roundHalfEven } from "../../kernels/rounding.js";

/** The arithmetic ops' codes in the WebAssembly kernel. */
const ARITHMETIC_CODES: Record<Arithmetic, number> = { add: 0, sub: 1, mul: 2, div: 3 };

function arithmeticOp(op: Arithmetic): OpKernel {
  return (ctx) => {
    const x = ctx.tensor("x");
    const y = ctx.tensor("y");
    const simd = ctx.simd;
    if (simd) {
      const shape = broadcastShapes(x.shape, y.shape);
      const repeats = vectorRepeats(shape, [x, y]);
      if (repeats) {
        const total = elementCount(shape);
        const out = simd.output(total);
        const [xAt, yAt] = [simd.input(x.data).byteOffset, simd.input(y.data).byteOffset];
        const [xLength, yLength] = repeats;
        const clamp = ctx.services.clamp;
        runArithmetic(simd.team, {
          x: xAt,
          xLength,
          y: yAt,
          yLength,
          dst: out.byteOffset,
          count: total,
          op: ARITHMETIC_CODES[op],
          ...clamp,
        });
        ctx.clamped = clamp !== undefined;
        return { dtype: x.dtype, shape, data: out };
      }
    }
    return { dtype: x.dtype, ...arithmetic(x, y, op, ctx.allocate) };
  };
}

/**
 * How many floats of each operand (broadcast to `shape`) repeat along the leading axes, when
 * each is whole, single, or repeats in whole vectors: what the SIMD loops take.
 */
function vectorRepeats(shape: readonly number[], operands: readonly Dense[]): number[] | undefined {
  const total = elementCount(shape);
  const lengths = operands.map((operand) => repeatLength(operand.shape, shape));
  const fits = (l: number | undefined) => l === total || l === 1 || (!!l && l % 4 === 0);
  return total > 0 && lengths.every(fits) ? (lengths as number[]) : undefined;
}

function binary(fn: (x: number, y: number) => number): OpKernel {
  return (ctx) => {
    const x = ctx.tensor("x");
    const result = mapBinary(x, ctx.tensor("y"), fn, ctx.allocate);
    return { dtype: x.dtype, ...result };
  };
}

function unary(fn: (v: number) => number): OpKernel {
  return (ctx) => {
    const x = ctx.tensor("x");
    return { dtype: x.dtype, ...mapUnary(x, fn, ctx.allocate) };
  };
}

/** A unary op whose function depends on scalar parameters read from the op. */
function parametric(make: (ctx: OpContext) => (v: number) => number): OpKernel {
  return (ctx) => unary(make(ctx))(ctx);
}

/** Activation functions named by string parameters (recurrent ops). */
export function namedActivation(name: string, alpha = 1, beta = 0): (v: number) => number {
  switch (name) {
    case "sigmoid":
      return sigmoid;
    case "tanh":
      return Math.tanh;
    case "relu":
      return (v) => Math.max(v, 0);
    case "linear":
      return (v) => alpha * v + beta;
    case "hard_sigmoid":
      return (v) => Math.min(1, Math.max(0, alpha * v + beta));
    case "scaled_tanh":
      return (v) => alpha * Math.tanh(beta * v);
    default:
      throw new RangeError(`unknown activation ${name}`);
  }
}

const floorMod = (x: number, y: number) => x - Math.floor(x / y) * y;

export const ELEMENTWISE_KERNELS: Record<string, OpKernel> = {
  add: arithmeticOp("add"),
  sub: arithmeticOp("sub"),
  mul: arithmeticOp("mul"),
  real_div: arithmeticOp("div"),
  floor_div: binary((x, y) => Math.floor(x / y)),
  mod: binary(floorMod),
  pow: binary(Math.pow),
  maximum: binary(Math.max),
  minimum: binary(Math.min),
  equal: binary((x, y) => (x === y ? 1 : 0)),
  not_equal: binary((x, y) => (x !== y ? 1 : 0)),
  less: binary((x, y) => (x < y ? 1 : 0)),
  less_equal: binary((x, y) => (x <= y ? 1 : 0)),
  greater: binary((x, y) => (x > y ? 1 : 0)),
  greater_equal: binary((x, y) => (x >= y ? 1 : 0)),
  logical_and: binary((x, y) => (x !== 0 && y !== 0 ? 1 : 0)),
  logical_or: binary((x, y) => (x !== 0 || y !== 0 ? 1 : 0)),
  logical_xor: binary((x, y) => ((x !== 0) !== (y !== 0) ? 1 : 0)),
  logical_not: unary((v) => (v === 0 ? 1 : 0)),
  abs: unary(Math.abs),
  acos: unary(Math.acos),
  asin: unary(Math.asin),
  atan: unary(Math.atan),
  atanh: unary(Math.atanh),
  ceil: unary(Math.ceil),
  cos: unary(Math.cos),
  cosh: unary(Math.cosh),
  erf: unary(erf),
  exp: unary(Math.exp),
  exp2: unary((v) => 2 ** v),
  floor: unary(Math.floor),
  round: unary(roundHalfEven),
  sign: unary(Math.sign),
  sin: unary(Math.sin),
  sinh: unary(Math.sinh),
  sqrt: unary(Math.sqrt),
  square: unary((v) => v * v),
  tan: unary(Math.tan),
  tanh: unary(Math.tanh),
  relu: (ctx) => {
    const x = ctx.tensor("x");
    const simd = ctx.simd;
    if (!simd) return { dtype: x.dtype, ...mapUnary(x, (v) => (v > 0 ? v : 0)) };
    const out = simd.output(x.data.length);
    simd.heap.elementwise.relu(simd.input(x.data).byteOffset, out.byteOffset, out.length);
    return { dtype: x.dtype, shape: x.shape, data: out };
  },
  relu6: unary((v) => Math.min(6, Math.max(0, v))),
  sigmoid: unary(sigmoid),
  silu: unary((v) => v * sigmoid(v)),
  softsign: unary((v) => v / (1 + Math.abs(v))),
  softplus: unary((v) => (v > 20 ? v : Math.log1p(Math.exp(v)))),
  identity: unary((v) => v),
  inverse: parametric((ctx) => {
    const eps = ctx.float("epsilon", 1e-4);
    return (v) => 1 / (v + eps);
  }),
  log: parametric((ctx) => {
    const eps = ctx.float("epsilon", 1e-45);
    return (v) => Math.log(v + eps);
  }),
  rsqrt: parametric((ctx) => {
    const eps = ctx.float("epsilon", 1e-12);
    return (v) => 1 / Math.sqrt(v + eps);
  }),
  clip: (ctx) => {
    // A dedicated loop: clip (ReLU6) is among the most frequent ops of vision models.
    const x = ctx.tensor("x");
    const lo = ctx.float("alpha");
    const hi = ctx.float("beta");
    const out = ctx.allocate(x.data.length);
    const simd = ctx.simd;
    if (simd) {
      const src = simd.input(x.data).byteOffset;
      simd.heap.elementwise.clamp(src, out.byteOffset, out.length, lo, hi);
      return { dtype: x.dtype, shape: x.shape, data: out };
    }
    for (let i = 0; i < out.length; i++) {
      const v = x.data[i];
      out[i] = v < lo ? lo : v > hi ? hi : v;
    }
    return { dtype: x.dtype, shape: x.shape, data: out };
  },
  threshold: parametric((ctx) => {
    const alpha = ctx.float("alpha");
    return (v) => Math.max(v, alpha);
  }),
  leaky_relu: parametric((ctx) => {
    const alpha = ctx.float("alpha", 0.01);
    return (v) => (v >= 0 ? v : alpha * v);
  }),
  elu: parametric((ctx) => {
    const alpha = ctx.float("alpha", 1);
    return (v) => (v > 0 ? v : alpha * (Math.exp(v) - 1));
  }),
  sigmoid_hard: parametric((ctx) =>
    namedActivation("hard_sigmoid", ctx.float("alpha", 0.2), ctx.float("beta", 0.5)),
  ),
  linear_activation: parametric((ctx) =>
    namedActivation("linear", ctx.float("alpha"), ctx.float("beta", 0)),
  ),
  scaled_tanh: parametric((ctx) =>
    namedActivation("scaled_tanh", ctx.float("alpha", 1), ctx.float("beta", 1)),
  ),
  clamped_relu: parametric((ctx) => {
    const alpha = ctx.float("alpha");
    const beta = ctx.float("beta");
    return (v) => Math.min(beta, v >= 0 ? v : alpha * v);
  }),
  gelu: (ctx) => {
    const x = ctx.tensor("x");
    const mode = ctx.string("mode", "EXACT");
    const simd = ctx.simd;
    if (mode === "EXACT" && simd) {
      // Vectors of four shared out to the threads; the last one's spare lanes land in the
      // slack past the output's block.
      const out = simd.output(x.data.length);
      const src = simd.input(x.data).byteOffset;
      const rows = Math.ceil(out.length / 4);
      runRows(simd.team, { kernel: RowKernel.Gelu, src, dst: out.byteOffset, rows, n: 4 });
      return { dtype: x.dtype, shape: x.shape, data: out };
    }
    if (mode === "EXACT") return { dtype: x.dtype, ...geluExact(x, ctx.allocate) };
    if (!(mode in GELU)) return ctx.fail(`unknown mode "${mode}"`);
    return { dtype: x.dtype, ...mapUnary(x, GELU[mode as GeluMode], ctx.allocate) };
  },
  prelu: (ctx) => {
    // One slope per channel (axis 1 for rank ≥ 3).
    const x = ctx.tensor("x");
    const alpha = ctx.tensor("alpha").data;
    const channels = x.shape[1];
    const inner = x.data.length / (x.shape[0] * channels);
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = x.data[i];
      out[i] = v >= 0 ? v : alpha[Math.floor(i / inner) % channels] * v;
    }
    return { dtype: x.dtype, shape: x.shape, data: out };
  },
  cast: (ctx) => {
    // The value rounding to the target type happens when the runtime stores the output.
    const x = ctx.tensor("x");
    return { dtype: x.dtype, shape: x.shape, data: Float32Array.from(x.data) };
  },
  select: (ctx) => {
    const [cond, a, b] = [ctx.tensor("cond"), ctx.tensor("a"), ctx.tensor("b")];
    const simd = ctx.simd;
    const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
    const repeats = simd && vectorRepeats(shape, [cond, a, b]);
    if (simd && repeats) {
      const out = simd.output(elementCount(shape));
      // A constant operand (an attention mask) goes into the heap once.
      const [condAt, aAt, bAt] = (["cond", "a", "b"] as const).map((input, i) =>
        ctx.isConstant(input)
          ? simd.constant([cond, a, b][i].data)
          : simd.input([cond, a, b][i].data).byteOffset,
      );
      const [lc, la, lb] = repeats;
      simd.heap.elementwise.select(condAt, lc, aAt, la, bAt, lb, out.byteOffset, out.length);
      return { dtype: a.dtype, shape, data: out };
    }
    return { dtype: a.dtype, ...select(cond, a, b, ctx.allocate) };
  },
};
