/** Activation quantization ops (iOS17): quantize and dequantize, per tensor or along an axis. */
import { ELEMENT_TYPES } from "../../kernels/dtype.js";
import { normalizeAxis, stridesOf } from "../../kernels/ops/shape.js";
import type { OpContext, OpKernel } from "../kernel.js";
import type { NumericType, NumericValue } from "../value.js";
import { roundHalfEven } from "../../kernels/rounding.js";

/** The per-element scale and zero point: scalars, or vectors along `axis`. */
function parameters(ctx: OpContext, x: NumericValue) {
  const scale = ctx.tensor("scale").data;
  const zeroPoint = ctx.optionalTensor("zero_point")?.data;
  let position = (_: number) => 0;
  if (scale.length > 1 || (zeroPoint && zeroPoint.length > 1)) {
    const axis = normalizeAxis(ctx.int("axis"), x.shape.length);
    const stride = stridesOf(x.shape)[axis];
    const size = x.shape[axis];
    position = (i) => Math.floor(i / stride) % size;
  }
  return {
    scale: (i: number) => scale[scale.length === 1 ? 0 : position(i)],
    zeroPoint: (i: number) => (zeroPoint ? zeroPoint[zeroPoint.length === 1 ? 0 : position(i)] : 0),
  };
}

const quantize: OpKernel = (ctx) => {
  const x = ctx.tensor("input");
  const dtype = ctx.string("output_dtype") as NumericType;
  if (dtype !== "int8" && dtype !== "uint8")
    ctx.fail(`output_dtype must be int8 or uint8, not ${dtype}`);
  const { min, max } = ELEMENT_TYPES[dtype];
  const { scale, zeroPoint } = parameters(ctx, x);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const q = roundHalfEven(x.data[i] / scale(i)) + zeroPoint(i);
    out[i] = Math.min(max, Math.max(min, q));
  }
  return { dtype, shape: x.shape, data: out };
};

const dequantize: OpKernel = (ctx) => {
  const x = ctx.tensor("input");
  const { scale, zeroPoint } = parameters(ctx, x);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (x.data[i] - zeroPoint(i)) * scale(i);
  return { dtype: ctx.tensor("scale").dtype, shape: x.shape, data: out };
};

export const QUANTIZE_KERNELS: Record<string, OpKernel> = { quantize, dequantize };
