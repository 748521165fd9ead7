/**
 * Linear dequantization as Core ML's constexpr ops define it: `scale * (data - offset)`, with
 * the parameters broadcast along one axis (iOS16 `constexpr_affine_dequantize`) or per block
 * (iOS18 `constexpr_blockwise_shift_scale`).
 */
import { floatToHalf, roundToHalf } from "./fp16.js";
import { blockSizes, rowOffsets } from "./block-broadcast.js";
import { stridesOf } from "./ops/shape.js";
import { ELEMENT_TYPES, elementCount, type ElementType, type Tensor } from "./dtype.js";
import { numericValues } from "./values.js";

type FloatType = "fp16" | "fp32";

function isFloatType(dtype: ElementType): dtype is FloatType {
  return dtype === "fp16" || dtype === "fp32";
}

/**
 * Stores a number as an element of `dtype`'s array holds it: fp16 as the bit pattern of the
 * nearest half (through float32, as numpy does), fp32 rounded to float32.
 */
function storedAs(dtype: FloatType): (value: number) => number {
  return dtype === "fp16" ? floatToHalf : Math.fround;
}

/**
 * How the data is laid out against its parameters: consecutive runs of `length` elements, each
 * dequantized with one parameter index (of `parameters`). Indices with equal keys (the same
 * scale bits and offset) dequantize alike.
 */
interface Runs {
  readonly length: number;
  readonly count: number;
  readonly parameters: number;
  parameter(run: number): number;
  key(p: number): number | string;
}

/** The bit pattern of element `p` of an fp16 or fp32 tensor (distinguishing -0 from 0). */
function floatBits(tensor: Tensor): (p: number) => number {
  const data = tensor.data as Uint16Array | Float32Array;
  if (data instanceof Uint16Array) return (p) => data[p];
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
  return (p) => words[p];
}

/** Each parameter index's slot among the distinct keys, and how many there are. */
function distinctParameters(runs: Runs): { slots: Int32Array; distinct: number[] } {
  const slots = new Int32Array(runs.parameters);
  const slotOfKey = new Map<number | string, number>();
  const distinct: number[] = [];
  for (let p = 0; p < runs.parameters; p++) {
    const key = runs.key(p);
    let slot = slotOfKey.get(key);
    if (slot === undefined) {
      slot = distinct.push(p) - 1;
      slotOfKey.set(key, slot);
    }
    slots[p] = slot;
  }
  return { slots, distinct };
}

/**
 * Dequantizes `data` run by run: `valueOf(q, p)` is the result for stored value q with
 * parameter index p, as stored in `dtype`'s array (fp16 as its bit pattern). Data of at most
 * 8 bits takes at most 2^bits values, so when each distinct parameter covers at least that many
 * elements every result is computed once into a table and the elements are looked up: the same
 * numbers, without per-element float arithmetic.
 */
function dequantizeRuns(
  data: Tensor,
  dtype: FloatType,
  runs: Runs,
  valueOf: (q: number, p: number) => number,
): Tensor {
  const count = elementCount(data.shape);
  const out = dtype === "fp16" ? new Uint16Array(count) : new Float32Array(count);
  const traits = ELEMENT_TYPES[data.dtype];
  const levels = 2 ** traits.bits;
  const small =
    (traits.kind === "signed" || traits.kind === "unsigned") &&
    traits.bits <= 8 &&
    (data.data instanceof Int8Array || data.data instanceof Uint8Array);
  const { slots, distinct } = small ? distinctParameters(runs) : { slots: undefined, distinct: [] };
  if (slots && count >= distinct.length * levels) {
    const codes = data.data as Int8Array | Uint8Array;
    const min = traits.min;
    const size = distinct.length * levels;
    const table = dtype === "fp16" ? new Uint16Array(size) : new Float32Array(size);
    let at = 0;
    for (const p of distinct) {
      for (let k = 0; k < levels; k++) table[at++] = valueOf(min + k, p);
    }
    for (let run = 0, i = 0; run < runs.count; run++) {
      const offset = slots[runs.parameter(run)] * levels - min;
      for (const end = i + runs.length; i < end; i++) out[i] = table[offset + codes[i]];
    }
  } else {
    const q = numericValues(data);
    for (let run = 0, i = 0; run < runs.count; run++) {
      const p = runs.parameter(run);
      for (const end = i + runs.length; i < end; i++) out[i] = valueOf(q[i], p);
    }
  }
  return { dtype, shape: data.shape, data: out };
}

/**
 * iOS16 affine dequantization. The arithmetic is float32 whatever the scale's type (the result
 * is rounded to the scale's type at the end); `scale` and `zeroPoint` are scalars or vectors
 * along `axis`.
 */
export function linearDequantize(
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
  const s = numericValues(scale);
  const z = numericValues(zeroPoint);
  const count = elementCount(data.shape);
  const scaleBits = floatBits(scale);
  // Channel runs when a parameter varies along the axis, else one run of the whole tensor.
  const runs: Runs =
    scaleVaries || zeroVaries
      ? {
          length: inner,
          count: count / inner,
          parameters: axisSize,
          parameter: (run) => run % axisSize,
          key: (channel) =>
            `${scaleBits(scaleVaries ? channel : 0)},${z[zeroVaries ? channel : 0]}`,
        }
      : { length: count, count: 1, parameters: 1, parameter: () => 0, key: () => 0 };
  const store = storedAs(scale.dtype);
  return dequantizeRuns(data, scale.dtype, runs, (q, channel) => {
    const shifted = Math.fround(q - z[zeroVaries ? channel : 0]);
    return store(shifted * s[scaleVaries ? channel : 0]);
  });
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
  const s = numericValues(scale);
  const o = offset ? numericValues(offset) : undefined;
  // The data is first converted to the scale's type, as coremltools does before shifting
  // (a no-op for integers the type holds exactly: up to 11 bits in fp16, 24 in fp32).
  const traits = ELEMENT_TYPES[data.dtype];
  const exact =
    (traits.kind === "signed" || traits.kind === "unsigned") &&
    traits.bits <= (scale.dtype === "fp16" ? 11 : 24);
  const toScaleType = exact ? (q: number) => q : scale.dtype === "fp16" ? roundToHalf : Math.fround;
  // The last rounding (to half or float32) is the one storing the result.
  const store = storedAs(scale.dtype);
  const rank = data.shape.length;
  const lastBlock = blocks[rank - 1];
  const blocksPerRow = data.shape[rank - 1] / lastBlock;
  const rows = rowOffsets(data.shape, blocks, stridesOf(scale.shape));
  const scaleBits = floatBits(scale);
  const runs: Runs = {
    length: lastBlock,
    count: rows.length * blocksPerRow,
    parameters: elementCount(scale.shape),
    parameter: (run) => rows[Math.floor(run / blocksPerRow)] + (run % blocksPerRow),
    key: o ? (p) => `${scaleBits(p)},${o[p]}` : scaleBits,
  };
  return dequantizeRuns(data, scale.dtype, runs, (q, p) => {
    let x = toScaleType(q);
    if (o) x = round(x - o[p]);
    return store(s[p] * x);
  });
}
