/**
 * Linear dequantization as Core ML's constexpr ops define it: `scale * (data - offset)`, with
 * the parameters broadcast along one axis (iOS16 `constexpr_affine_dequantize`) or per block
 * (iOS18 `constexpr_blockwise_shift_scale`).
 */
import { floatToHalf, roundToHalf } from "./fp16.js";
import { blockSizes, rowOffsets, stridesOf } from "./layout.js";
import { elementCount, type ElementType, type Tensor } from "./dtype.js";
import { numericValues } from "./values.js";

type FloatType = "fp16" | "fp32";

function isFloatType(dtype: ElementType): dtype is FloatType {
  return dtype === "fp16" || dtype === "fp32";
}

/** A float tensor of `dtype` from float32-exact numbers (fp16 rounded to nearest even). */
function encodeFloats(dtype: FloatType, shape: readonly number[], values: Float32Array): Tensor {
  if (dtype === "fp32") return { dtype, shape, data: values };
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = floatToHalf(values[i]);
  return { dtype, shape, data: bits };
}

/**
 * iOS16 affine dequantization. The arithmetic is float32 whatever the scale's type (the result
 * is rounded to the scale's type at the end); `scale` and `zeroPoint` are scalars or vectors
 * along `axis`.
 */
export function affineDequantize(
  data: Tensor,
  zeroPoint: Tensor,
  scale: Tensor,
  axis: number,
): Tensor {
  if (!isFloatType(scale.dtype))
    throw new RangeError(`scale must be fp16 or fp32, not ${scale.dtype}`);
  const rank = data.shape.length;
  const resolvedAxis = axis < 0 ? axis + rank : axis;
  if (resolvedAxis < 0 || resolvedAxis >= rank) {
    throw new RangeError(`axis ${axis} is out of range for rank ${rank}`);
  }
  const axisSize = data.shape[resolvedAxis];
  const inner = stridesOf(data.shape)[resolvedAxis];
  const perAxis = (param: Tensor, what: string): boolean => {
    const count = elementCount(param.shape);
    if (param.shape.length > 1 || (param.shape.length === 1 && count !== axisSize && count !== 1)) {
      throw new RangeError(`${what} must be a scalar or have ${axisSize} elements along the axis`);
    }
    return param.shape.length === 1 && count === axisSize && axisSize !== 1;
  };
  const scaleVaries = perAxis(scale, "scale");
  const zeroVaries = perAxis(zeroPoint, "zero_point");
  const q = numericValues(data);
  const s = numericValues(scale);
  const z = numericValues(zeroPoint);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) {
    const channel = Math.floor(i / inner) % axisSize;
    const shifted = Math.fround(q[i] - z[zeroVaries ? channel : 0]);
    out[i] = shifted * s[scaleVaries ? channel : 0];
  }
  return encodeFloats(scale.dtype, data.shape, out);
}

/**
 * iOS18 block-wise dequantization: every dimension of `scale` (and `offset`, same shape)
 * divides the data's, each parameter covering one block. The arithmetic follows numpy's type
 * promotion as coremltools evaluates the op: in half precision (rounded at each step) when the
 * scale is fp16 and the offset is not fp32, else in float32.
 */
export function blockwiseShiftScale(data: Tensor, scale: Tensor, offset?: Tensor): Tensor {
  if (!isFloatType(scale.dtype))
    throw new RangeError(`scale must be fp16 or fp32, not ${scale.dtype}`);
  if (offset && offset.shape.join(",") !== scale.shape.join(",")) {
    throw new RangeError(
      `offset shape [${offset.shape}] differs from scale shape [${scale.shape}]`,
    );
  }
  const blocks = blockSizes(data.shape, scale.shape, "scale");
  const half = scale.dtype === "fp16" && offset?.dtype !== "fp32";
  const round = half ? roundToHalf : Math.fround;
  const values = numericValues(data);
  const s = numericValues(scale);
  const o = offset ? numericValues(offset) : undefined;
  // The data is first converted to the scale's type, as coremltools does before shifting.
  const toScaleType = scale.dtype === "fp16" ? roundToHalf : Math.fround;
  const rank = data.shape.length;
  const lastSize = data.shape[rank - 1];
  const lastBlock = blocks[rank - 1];
  const rows = rowOffsets(data.shape, blocks, stridesOf(scale.shape));
  const out = new Float32Array(values.length);
  let i = 0;
  for (let row = 0; row < rows.length; row++) {
    const base = rows[row];
    for (let j = 0; j < lastSize; j++, i++) {
      const p = base + Math.floor(j / lastBlock);
      let x = toScaleType(values[i]);
      if (o) x = round(x - o[p]);
      out[i] = round(s[p] * x);
    }
  }
  return encodeFloats(scale.dtype, data.shape, out);
}
