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

/** [scale, zero point] when both are single values (per-tensor quantization). */
function uniformParameters(ctx: OpContext): [number, number] | undefined {
  const scale = ctx.tensor("scale").data;
  const zeroPoint = ctx.optionalTensor("zero_point")?.data;
  if (scale.length !== 1 || (zeroPoint && zeroPoint.length !== 1)) return undefined;
  return [scale[0], zeroPoint ? zeroPoint[0] : 0];
}

const quantize: OpKernel = (ctx) => {
  const x = ctx.tensor("input");
  const dtype = ctx.string("output_dtype") as NumericType;
  if (dtype !== "int8" && dtype !== "uint8")
    ctx.fail(`output_dtype must be int8 or uint8, not ${dtype}`);
  const { min, max } = ELEMENT_TYPES[dtype];
  const out = ctx.allocate(x.data.length);
  const src = x.data;
  const uniform = uniformParameters(ctx);
  const simd = ctx.simd;
  if (uniform && simd) {
    const at = simd.input(src).byteOffset;
    simd.heap.elementwise.quantize(
      at,
      out.byteOffset,
      out.length,
      uniform[0],
      uniform[1],
      min,
      max,
    );
    return { dtype, shape: x.shape, data: out };
  }
  if (uniform) {
    // One scale and zero point: the same arithmetic without per-element lookups.
    const [s, z] = uniform;
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.min(max, Math.max(min, roundHalfEven(src[i] / s) + z));
    }
    return { dtype, shape: x.shape, data: out };
  }
  const { scale, zeroPoint } = parameters(ctx, x);
  for (let i = 0; i < out.length; i++) {
    const q = roundHalfEven(src[i] / scale(i)) + zeroPoint(i);
    out[i] = Math.min(max, Math.max(min, q));
  }
  return { dtype, shape: x.shape, data: out };
};

const dequantize: OpKernel = (ctx) => {
  const x = ctx.tensor("input");
  const out = ctx.allocate(x.data.length);
  const src = x.data;
  const dtype = ctx.tensor("scale").dtype;
  const uniform = uniformParameters(ctx);
  const simd = ctx.simd;
  if (uniform && simd) {
    const at = simd.input(src).byteOffset;
    simd.heap.elementwise.dequantize(at, out.byteOffset, out.length, uniform[0], uniform[1]);
    return { dtype, shape: x.shape, data: out };
  }
  if (uniform) {
    const [s, z] = uniform;
    for (let i = 0; i < out.length; i++) out[i] = (src[i] - z) * s;
    return { dtype, shape: x.shape, data: out };
  }
  const { scale, zeroPoint } = parameters(ctx, x);
  for (let i = 0; i < out.length; i++) out[i] = (src[i] - zeroPoint(i)) * scale(i);
  return { dtype, shape: x.shape, data: out };
};

export const QUANTIZE_KERNELS: Record<string, OpKernel> = { quantize, dequantize };
