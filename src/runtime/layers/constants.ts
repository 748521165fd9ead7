/** Layers that make blobs from parameters or shapes: constants, fills, ranges, one-hot vectors. */
import { elementCount } from "../../kernels/dtype.js";
import type { NeuralNetworkLayer } from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import { oneHot } from "../../kernels/ops/lines.js";

import { intsOf, num, paramsOf, unsupported, weightValues, type LayerCompiler } from "./params.js";

function filled(shape: readonly number[], value: number): Dense {
  return { shape: [...shape], data: new Float32Array(elementCount(shape)).fill(value) };
}

/** numpy.arange(start, end, step). */
function range(layer: NeuralNetworkLayer, start: number, end: number, step: number): Dense {
  if (step === 0) throw unsupported(layer, "a range with step 0");
  const count = Math.max(0, Math.ceil((end - start) / step));
  return { shape: [count], data: Float32Array.from({ length: count }, (_, i) => start + i * step) };
}

/** The single value of a scalar blob. */
function scalar(layer: NeuralNetworkLayer, x: Dense): number {
  if (x.data.length !== 1) throw unsupported(layer, `a [${x.shape}] blob where a scalar goes`);
  return x.data[0];
}

export const CONSTANT_LAYERS = {
  /** [C, H, W] values as a rank-5 blob [1, 1, C, H, W]. */
  loadConstant: (layer) => {
    const p = paramsOf(layer, "loadConstant");
    const shape = p.shape.map(num);
    if (shape.length !== 3) throw unsupported(layer, `a constant of shape [${shape}]`);
    const data = weightValues(layer, "data", p.data, elementCount(shape));
    return () => ({ shape: [1, 1, ...shape], data });
  },
  loadConstantND: (layer) => {
    const p = paramsOf(layer, "loadConstantND");
    const shape = p.shape.map(num);
    const data = weightValues(layer, "data", p.data, elementCount(shape));
    return () => ({ shape, data });
  },
  fillLike: (layer) => {
    const value = paramsOf(layer, "fillLike").value;
    return ([like]) => filled(like.shape, value);
  },
  fillStatic: (layer) => {
    const p = paramsOf(layer, "fillStatic");
    const shape = p.targetShape.map(num);
    return () => filled(shape, p.value);
  },
  fillDynamic: (layer) => {
    const value = paramsOf(layer, "fillDynamic").value;
    return ([shape]) => filled(intsOf(shape), value);
  },
  rangeStatic: (layer) => {
    const p = paramsOf(layer, "rangeStatic");
    const values = range(layer, p.startValue, p.endValue, p.stepSizeValue);
    return () => values;
  },
  /** Inputs: end, then (optional, else the parameters) start and step. */
  rangeDynamic: (layer) => {
    const p = paramsOf(layer, "rangeDynamic");
    return ([end, start, step]) =>
      range(
        layer,
        start ? scalar(layer, start) : p.startValue,
        scalar(layer, end),
        step ? scalar(layer, step) : p.stepSizeValue,
      );
  },
  oneHot: (layer) => {
    const p = paramsOf(layer, "oneHot");
    return ([indices, depth]) => {
      const size = depth ? scalar(layer, depth) : num(p.oneHotVectorSize);
      const rank = indices.shape.length + 1;
      const axis = num(p.axis) < 0 ? num(p.axis) + rank : num(p.axis);
      if (axis < 0 || axis >= rank) throw unsupported(layer, `axis ${p.axis} for rank ${rank}`);
      return oneHot(indices, size, axis, p.onValue, p.offValue);
    };
  },
} satisfies Record<string, LayerCompiler>;
