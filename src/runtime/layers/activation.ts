/**
 * Elementwise functions of one blob: the activation layer's nonlinearities, the unary function
 * layer, the iOS 13 math layers (any rank), and softmax.
 */
import type { ActivationParams, NeuralNetworkLayer } from "../../format/gen/NeuralNetwork_pb.js";
import {
  GeluLayerParams_GeluMode,
  UnaryFunctionLayerParams_Operation,
} from "../../format/gen/NeuralNetwork_pb.js";
import { GELU, sigmoid, type GeluMode } from "../../kernels/ops/activations.js";
import { erf, mapUnary } from "../../kernels/ops/elementwise.js";
import { softmax } from "../../kernels/ops/reduce.js";
import { normalizeAxis } from "../../kernels/ops/shape.js";
import { roundHalfEven } from "../../kernels/rounding.js";
import {
  channelView,
  num,
  paramsOf,
  unsupported,
  weightValues,
  type LayerCompiler,
  type LayerFunction,
} from "./params.js";

/** One value, or one per channel (axis −3), read at channel c. */
function perChannel(values: Float32Array): (c: number) => number {
  return values.length === 1 ? () => values[0] : (c) => values[c];
}

const unary =
  (fn: (v: number) => number): LayerFunction =>
  ([x]) =>
    mapUnary(x, fn);

/** fn(value, channel) over a blob whose channel axis is −3. */
const channelwise =
  (fn: (v: number, c: number) => number): LayerFunction =>
  ([x]) => {
    const [, c, h, w] = channelView(x);
    const plane = h * w;
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = fn(x.data[i], Math.floor(i / plane) % c);
    return { shape: x.shape, data: out };
  };

/**
 * A nonlinearity as a function of one value, when it has no per-channel parameters (recurrent
 * layers take these); undefined for PReLU and parametric softplus.
 */
export function scalarActivation(params: ActivationParams): ((v: number) => number) | undefined {
  const f = params.NonlinearityType;
  switch (f.case) {
    case "linear":
      return (v) => f.value.alpha * v + f.value.beta;
    case "ReLU":
      return (v) => (v > 0 ? v : 0);
    case "leakyReLU":
      return (v) => (v >= 0 ? v : f.value.alpha * v);
    case "thresholdedReLU":
      return (v) => (v > f.value.alpha ? v : 0);
    case "tanh":
      return Math.tanh;
    case "scaledTanh":
      return (v) => f.value.alpha * Math.tanh(f.value.beta * v);
    case "sigmoid":
      return sigmoid;
    case "sigmoidHard":
      return (v) => Math.min(1, Math.max(0, f.value.alpha * v + f.value.beta));
    case "ELU":
      return (v) => (v >= 0 ? v : f.value.alpha * Math.expm1(v));
    case "softsign":
      return (v) => v / (1 + Math.abs(v));
    case "softplus":
      return (v) => Math.log1p(Math.exp(v));
    default:
      return undefined;
  }
}

/** ReLU, the commonest activation, in a loop of its own: a call per value costs several times more. */
const relu: LayerFunction = ([x]) => {
  const src = x.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] > 0 ? src[i] : 0;
  return { shape: [...x.shape], data: out };
};

/**
 * max(floor, a·x + b): the linear activation (floor −∞) and the unary threshold, the pieces
 * converters build ReLU6 from, in a loop of their own like ReLU.
 */
const affineFloor =
  (a: number, b: number, floor: number): LayerFunction =>
  ([x]) => {
    const src = x.data;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = Math.max(floor, a * src[i] + b);
    return { shape: [...x.shape], data: out };
  };

const activation: LayerCompiler = (layer) => {
  const params = paramsOf(layer, "activation");
  const f = params.NonlinearityType;
  if (f.case === "ReLU") return relu;
  if (f.case === "linear") return affineFloor(f.value.alpha, f.value.beta, -Infinity);
  if (f.case === "PReLU") {
    const alpha = perChannel(weightValues(layer, "alpha", f.value.alpha));
    return channelwise((v, c) => (v >= 0 ? v : alpha(c) * v));
  }
  if (f.case === "parametricSoftplus") {
    const alpha = perChannel(weightValues(layer, "alpha", f.value.alpha));
    const beta = perChannel(weightValues(layer, "beta", f.value.beta));
    return channelwise((v, c) => alpha(c) * Math.log1p(Math.exp(beta(c) * v)));
  }
  const fn = scalarActivation(params);
  if (!fn) throw unsupported(layer, "activation without a function");
  return unary(fn);
};

const unaryFunction: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "unary");
  const scale = p.scale === 0 ? 1 : p.scale;
  const epsilon = p.epsilon === 0 ? 1e-6 : p.epsilon;
  const O = UnaryFunctionLayerParams_Operation;
  if (p.type === O.THRESHOLD) return affineFloor(scale, p.shift, p.alpha);
  const fn: Record<number, (v: number) => number> = {
    [O.SQRT]: Math.sqrt,
    [O.RSQRT]: (v) => 1 / Math.sqrt(v + epsilon),
    [O.INVERSE]: (v) => 1 / (v + epsilon),
    [O.POWER]: (v) => v ** p.alpha,
    [O.EXP]: Math.exp,
    [O.LOG]: Math.log,
    [O.ABS]: Math.abs,
  };
  const apply = fn[p.type];
  if (!apply) throw unsupported(layer, `unary function ${p.type}`);
  return unary((v) => apply(scale * v + p.shift));
};

/** A layer applying one fixed function to every value. */
const math =
  (fn: (v: number) => number): LayerCompiler =>
  () =>
    unary(fn);

const gelu: LayerCompiler = (layer) => {
  const mode = GeluLayerParams_GeluMode[paramsOf(layer, "gelu").mode] as GeluMode | undefined;
  if (!mode || !(mode in GELU)) throw unsupported(layer, "unknown gelu mode");
  return unary(GELU[mode]);
};

const clip: LayerCompiler = (layer) => {
  const { minVal, maxVal } = paramsOf(layer, "clip");
  return unary((v) => (v < minVal ? minVal : v > maxVal ? maxVal : v));
};

const clampedReLU: LayerCompiler = (layer) => {
  const { alpha, beta } = paramsOf(layer, "clampedReLU");
  return unary((v) => Math.min(beta, v >= 0 ? v : alpha * v));
};

/** softmax along an axis counted from the end when negative. */
const softmaxAlong =
  (layer: NeuralNetworkLayer, axis: number): LayerFunction =>
  ([x]) => {
    if (x.shape.length < -axis)
      throw unsupported(layer, `softmax on a rank ${x.shape.length} blob`);
    return softmax(x, normalizeAxis(axis, x.shape.length));
  };

export const ACTIVATION_LAYERS = {
  activation,
  unary: unaryFunction,
  // Over channels: axis −3 in the iOS 13 reading of [C, H, W].
  softmax: (layer) => softmaxAlong(layer, -3),
  softmaxND: (layer) => softmaxAlong(layer, num(paramsOf(layer, "softmaxND").axis)),
  ceil: math(Math.ceil),
  floor: math(Math.floor),
  round: math(roundHalfEven),
  sign: math(Math.sign),
  exp2: math((v) => 2 ** v),
  sin: math(Math.sin),
  cos: math(Math.cos),
  tan: math(Math.tan),
  asin: math(Math.asin),
  acos: math(Math.acos),
  atan: math(Math.atan),
  sinh: math(Math.sinh),
  cosh: math(Math.cosh),
  tanh: math(Math.tanh),
  asinh: math(Math.asinh),
  acosh: math(Math.acosh),
  atanh: math(Math.atanh),
  erf: math(erf),
  gelu,
  clip,
  clampedReLU,
} satisfies Record<string, LayerCompiler>;
