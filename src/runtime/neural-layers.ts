/**
 * Layers of neural-network (.mlmodel) models as functions of their input blobs. Blobs are
 * [C, H, W] (the rank-5 layout's sequence and batch axes are 1), weights are read once, and
 * the arithmetic runs on the same kernels as the ML program interpreter.
 */
import { UnsupportedError } from "../errors.js";
import { elementCount } from "../kernels/dtype.js";
import type {
  ActivationParams,
  NeuralNetworkLayer,
  SamePadding,
} from "../format/gen/NeuralNetwork_pb.js";
import {
  FlattenLayerParams_FlattenOrder,
  PoolingLayerParams_PoolingType,
  SamePadding_SamePaddingMode,
  UnaryFunctionLayerParams_Operation,
  UpsampleLayerParams_InterpolationMode,
  UpsampleLayerParams_LinearUpsampleMode,
} from "../format/gen/NeuralNetwork_pb.js";
import {
  conv2d,
  convTranspose2d,
  pool2d,
  poolOutputSize,
  spatialPadding,
  type Window2d,
} from "../kernels/ops/conv.js";
import { mapBinary, mapUnary, type Dense } from "../kernels/ops/elementwise.js";
import { concat, transpose, upsampleNearest } from "../kernels/ops/layout.js";
import { linear } from "../kernels/ops/matmul.js";
import { softmax } from "../kernels/ops/reduce.js";
import { borderPads, num, pair, weightValues, type LayerFunction } from "./neural-layer-params.js";
import { compileLayoutLayer } from "./neural-layout-layers.js";

/** [C, H, W] as the [1, C, H, W] the spatial kernels take, and back. */
const batched = (x: Dense): Dense => ({ shape: [1, ...x.shape], data: x.data });
const unbatched = (x: Dense): Dense => ({ shape: x.shape.slice(1), data: x.data });

/** TensorFlow-style "same" padding of H and W for input [h, w]. */
function samePads(
  same: SamePadding,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
): [number, number, number, number] {
  const type =
    same.asymmetryMode === SamePadding_SamePaddingMode.TOP_LEFT_HEAVY ? "same_lower" : "same";
  const axis = (i: number) =>
    spatialPadding(type, size[i], kernel[i], strides[i], dilations[i], [0, 0]);
  return [...axis(0), ...axis(1)];
}

function convolution(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "convolution") throw new Error("not a convolution");
  const p = layer.layer.value;
  const kernel = pair(p.kernelSize, 3);
  const strides = pair(p.stride, 1);
  // Deconvolutions ignore the dilation factors.
  const dilations = p.isDeconvolution ? ([1, 1] as [number, number]) : pair(p.dilationFactor, 1);
  const groups = Math.max(1, num(p.nGroups));
  const outChannels = num(p.outputChannels);
  const kernelChannels = num(p.kernelChannels);
  const shape = p.isDeconvolution
    ? [kernelChannels, outChannels / groups, ...kernel]
    : [outChannels, kernelChannels, ...kernel];
  const weight: Dense = {
    shape,
    data: weightValues(layer, "weights", p.weights, elementCount(shape)),
  };
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, outChannels) : undefined;
  const padding = p.ConvolutionPaddingType;
  const inputChannels = p.isDeconvolution ? kernelChannels : kernelChannels * groups;
  return ([x], multiply) => {
    if (x.shape[0] !== inputChannels) {
      throw new UnsupportedError(
        `layer "${layer.name}": a [${x.shape.join(",")}] blob, its weights take ${inputChannels} channels`,
      );
    }
    const size: [number, number] = [x.shape[1], x.shape[2]];
    if (!p.isDeconvolution) {
      const pads =
        padding.case === "same"
          ? samePads(padding.value, size, kernel, strides, dilations)
          : borderPads(padding.value?.paddingAmounts);
      const win: Window2d = { kernel, strides, dilations, pads };
      return unbatched(conv2d(batched(x), weight, bias, win, groups, multiply));
    }
    // The full transposed output, less the padding (or down to the declared output shape).
    const full = size.map((s, i) => (s - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1);
    let outSize: [number, number];
    let pads: [number, number, number, number];
    if (p.outputShape.length >= 2) {
      outSize = [num(p.outputShape[0]), num(p.outputShape[1])];
      const crop = full.map((f, i) => f - outSize[i]);
      pads = [0, crop[0], 0, crop[1]];
    } else if (padding.case === "same") {
      outSize = [size[0] * strides[0], size[1] * strides[1]];
      const crop = full.map((f, i) => Math.max(0, f - outSize[i]));
      const heavyTop = padding.value.asymmetryMode === SamePadding_SamePaddingMode.TOP_LEFT_HEAVY;
      const split = (c: number): [number, number] =>
        heavyTop ? [Math.ceil(c / 2), Math.floor(c / 2)] : [Math.floor(c / 2), Math.ceil(c / 2)];
      pads = [...split(crop[0]), ...split(crop[1])];
    } else {
      pads = borderPads(padding.value?.paddingAmounts);
      outSize = [full[0] - pads[0] - pads[1], full[1] - pads[2] - pads[3]];
    }
    const win: Window2d = { kernel, strides, dilations, pads };
    return unbatched(convTranspose2d(batched(x), weight, bias, win, groups, outSize));
  };
}

function innerProduct(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "innerProduct") throw new Error("not an inner product");
  const p = layer.layer.value;
  const inputs = num(p.inputChannels);
  const outputs = num(p.outputChannels);
  const weight: Dense = {
    shape: [outputs, inputs],
    data: weightValues(layer, "weights", p.weights, outputs * inputs),
  };
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, outputs) : undefined;
  return ([x], multiply) => {
    if (x.data.length !== inputs) {
      throw new UnsupportedError(
        `layer "${layer.name}": innerProduct of a [${x.shape.join(",")}] blob (expects ${inputs} channels)`,
      );
    }
    const y = linear({ shape: [1, inputs], data: x.data }, weight, bias, multiply);
    return { shape: [weight.shape[0], 1, 1], data: y.data };
  };
}

function batchnorm(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "batchnorm") throw new Error("not a batchnorm");
  const p = layer.layer.value;
  const channels = num(p.channels) || undefined; // unchecked when left unset
  const gamma = weightValues(layer, "gamma", p.gamma, channels);
  const beta = weightValues(layer, "beta", p.beta, channels);
  const stored = p.computeMeanVar
    ? undefined
    : {
        mean: weightValues(layer, "mean", p.mean, channels),
        variance: weightValues(layer, "variance", p.variance, channels),
      };
  const epsilon = p.epsilon;
  return ([x]) => {
    const [c] = x.shape;
    const plane = x.data.length / c;
    const out = new Float32Array(x.data.length);
    for (let ch = 0; ch < c; ch++) {
      const values = x.data.subarray(ch * plane, (ch + 1) * plane);
      let mean = stored?.mean[ch] ?? 0;
      let variance = stored?.variance[ch] ?? 0;
      if (!stored) {
        // Statistics of this channel over the spatial axes (batch 1).
        mean = values.reduce((a, v) => a + v, 0) / plane;
        variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / plane;
      }
      const scale = gamma[ch] / Math.sqrt(variance + epsilon);
      for (let i = 0; i < plane; i++) out[ch * plane + i] = (values[i] - mean) * scale + beta[ch];
    }
    return { shape: x.shape, data: out };
  };
}

/** Per-channel parameters (one value, or one per channel) read at channel c. */
function perChannel(values: Float32Array): (c: number) => number {
  return values.length === 1 ? () => values[0] : (c) => values[c];
}

function activationFunction(layer: NeuralNetworkLayer, params: ActivationParams): LayerFunction {
  const f = params.NonlinearityType;
  const unary =
    (fn: (v: number) => number): LayerFunction =>
    ([x]) =>
      mapUnary(x, fn);
  const channelwise =
    (fn: (v: number, c: number) => number): LayerFunction =>
    ([x]) => {
      const plane = x.data.length / x.shape[0];
      const out = new Float32Array(x.data.length);
      for (let i = 0; i < out.length; i++) out[i] = fn(x.data[i], Math.floor(i / plane));
      return { shape: x.shape, data: out };
    };
  switch (f.case) {
    case "linear":
      return unary((v) => f.value.alpha * v + f.value.beta);
    case "ReLU":
      return unary((v) => (v > 0 ? v : 0));
    case "leakyReLU":
      return unary((v) => (v >= 0 ? v : f.value.alpha * v));
    case "thresholdedReLU":
      return unary((v) => (v > f.value.alpha ? v : 0));
    case "PReLU": {
      const alpha = perChannel(weightValues(layer, "alpha", f.value.alpha));
      return channelwise((v, c) => (v >= 0 ? v : alpha(c) * v));
    }
    case "tanh":
      return unary(Math.tanh);
    case "scaledTanh":
      return unary((v) => f.value.alpha * Math.tanh(f.value.beta * v));
    case "sigmoid":
      return unary((v) => 1 / (1 + Math.exp(-v)));
    case "sigmoidHard":
      return unary((v) => Math.min(1, Math.max(0, f.value.alpha * v + f.value.beta)));
    case "ELU":
      return unary((v) => (v >= 0 ? v : f.value.alpha * Math.expm1(v)));
    case "softsign":
      return unary((v) => v / (1 + Math.abs(v)));
    case "softplus":
      return unary((v) => Math.log1p(Math.exp(v)));
    case "parametricSoftplus": {
      const alpha = perChannel(weightValues(layer, "alpha", f.value.alpha));
      const beta = perChannel(weightValues(layer, "beta", f.value.beta));
      return channelwise((v, c) => alpha(c) * Math.log1p(Math.exp(beta(c) * v)));
    }
    default:
      throw new UnsupportedError(`layer "${layer.name}": activation without a function`);
  }
}

function unaryFunction(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "unary") throw new Error("not a unary function");
  const p = layer.layer.value;
  const scale = p.scale === 0 ? 1 : p.scale;
  const epsilon = p.epsilon === 0 ? 1e-6 : p.epsilon;
  const O = UnaryFunctionLayerParams_Operation;
  const fn: Record<number, (v: number) => number> = {
    [O.SQRT]: Math.sqrt,
    [O.RSQRT]: (v) => 1 / Math.sqrt(v + epsilon),
    [O.INVERSE]: (v) => 1 / (v + epsilon),
    [O.POWER]: (v) => v ** p.alpha,
    [O.EXP]: Math.exp,
    [O.LOG]: Math.log,
    [O.ABS]: Math.abs,
    [O.THRESHOLD]: (v) => Math.max(p.alpha, v),
  };
  const apply = fn[p.type];
  if (!apply) throw new UnsupportedError(`layer "${layer.name}": unary function ${p.type}`);
  return ([x]) => mapUnary(x, (v) => apply(scale * v + p.shift));
}

function pooling(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "pooling") throw new Error("not a pooling layer");
  const p = layer.layer.value;
  const T = PoolingLayerParams_PoolingType;
  if (p.type === T.L2) throw new UnsupportedError(`layer "${layer.name}": L2 pooling`);
  const kind = p.type === T.MAX ? "max" : "avg";
  const strides = pair(p.stride, 1);
  const padding = p.PoolingPaddingType;
  return ([x]) => {
    const size: [number, number] = [x.shape[1], x.shape[2]];
    if (p.globalPooling) {
      const win: Window2d = {
        kernel: size,
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0, 0, 0, 0],
      };
      return unbatched(pool2d(batched(x), win, [1, 1], kind, false));
    }
    const kernel = pair(p.kernelSize, 3);
    let pads: [number, number, number, number];
    let outSize: [number, number];
    if (padding.case === "includeLastPixel") {
      // Symmetric padding and Caffe's rounding up, less a window starting past the padding.
      const [ph, pw] = pair(padding.value.paddingAmounts, 0);
      pads = [ph, ph, pw, pw];
      outSize = [
        poolOutputSize(size[0], kernel[0], strides[0], ph, ph, true),
        poolOutputSize(size[1], kernel[1], strides[1], pw, pw, true),
      ];
    } else {
      pads =
        padding.case === "same"
          ? samePads(padding.value, size, kernel, strides, [1, 1])
          : borderPads(padding.value?.paddingAmounts);
      outSize = [
        poolOutputSize(size[0], kernel[0], strides[0], pads[0], pads[1], false),
        poolOutputSize(size[1], kernel[1], strides[1], pads[2], pads[3], false),
      ];
    }
    const win: Window2d = { kernel, strides, dilations: [1, 1], pads };
    return unbatched(pool2d(batched(x), win, outSize, kind, p.avgPoolExcludePadding));
  };
}

/** Elementwise sum or product of the inputs (broadcast), or one input with a scalar. */
function combine(layer: NeuralNetworkLayer, fn: (a: number, b: number) => number, alpha: number) {
  return ([first, ...rest]: Dense[]): Dense => {
    if (rest.length === 0) return mapUnary(first, (v) => fn(v, alpha));
    return rest.reduce((acc, x) => {
      if (acc.shape.length !== x.shape.length) {
        throw new UnsupportedError(`layer "${layer.name}": inputs of different ranks`);
      }
      return mapBinary(acc, x, fn);
    }, first);
  };
}

/** Bilinear resampling of the last two axes on the grid the upsample layer's mode defines. */
function upsampleBilinear(x: Dense, outH: number, outW: number, mode: number): Dense {
  const [c, h, w] = x.shape;
  const M = UpsampleLayerParams_LinearUpsampleMode;
  const grid = (size: number, out: number) =>
    Float64Array.from({ length: out }, (_, i) => {
      let point: number;
      if (mode === M.ALIGN_CORNERS_TRUE) point = out > 1 ? (i * (size - 1)) / (out - 1) : 0;
      else if (mode === M.ALIGN_CORNERS_FALSE) point = ((i + 0.5) * size) / out - 0.5;
      else point = out > 1 ? (i * (size - size / out)) / (out - 1) : 0;
      return Math.min(size - 1, Math.max(0, point));
    });
  const ys = grid(h, outH);
  const xs = grid(w, outW);
  const out = new Float32Array(c * outH * outW);
  for (let ch = 0; ch < c; ch++) {
    const src = ch * h * w;
    for (let oy = 0; oy < outH; oy++) {
      const y0 = Math.floor(ys[oy]);
      const y1 = Math.min(h - 1, y0 + 1);
      const fy = ys[oy] - y0;
      for (let ox = 0; ox < outW; ox++) {
        const x0 = Math.floor(xs[ox]);
        const x1 = Math.min(w - 1, x0 + 1);
        const fx = xs[ox] - x0;
        const top = x.data[src + y0 * w + x0] * (1 - fx) + x.data[src + y0 * w + x1] * fx;
        const bottom = x.data[src + y1 * w + x0] * (1 - fx) + x.data[src + y1 * w + x1] * fx;
        out[(ch * outH + oy) * outW + ox] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { shape: [c, outH, outW], data: out };
}

function upsample(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "upsample") throw new Error("not an upsample layer");
  const p = layer.layer.value;
  const fractional = p.fractionalScalingFactor.length >= 2;
  const [sh, sw] = fractional
    ? [p.fractionalScalingFactor[0], p.fractionalScalingFactor[1]]
    : pair(p.scalingFactor, 1);
  const bilinear = p.mode === UpsampleLayerParams_InterpolationMode.BILINEAR;
  if (fractional && !bilinear) {
    throw new UnsupportedError(`layer "${layer.name}": fractional nearest-neighbour upsampling`);
  }
  return ([x]) => {
    const outH = Math.floor(x.shape[1] * sh);
    const outW = Math.floor(x.shape[2] * sw);
    return bilinear
      ? upsampleBilinear(x, outH, outW, p.linearUpsampleMode)
      : upsampleNearest(x, outH, outW, sh, sw);
  };
}

function embedding(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "embedding") throw new Error("not an embedding");
  const p = layer.layer.value;
  const vocabulary = num(p.inputDim);
  const channels = num(p.outputChannels);
  // Stored [outputChannels, inputDim]: the column of each index is its vector.
  const weights = weightValues(layer, "weights", p.weights, channels * vocabulary);
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, channels) : undefined;
  return ([x]) => {
    const out = new Float32Array(x.data.length * channels);
    x.data.forEach((value, t) => {
      const index = Math.trunc(value);
      if (!(index >= 0 && index < vocabulary)) {
        throw new UnsupportedError(
          `layer "${layer.name}": index ${value} outside 0..${vocabulary - 1}`,
        );
      }
      for (let c = 0; c < channels; c++) {
        out[t * channels + c] = weights[c * vocabulary + index] + (bias?.[c] ?? 0);
      }
    });
    return x.data.length === 1
      ? { shape: [channels, 1, 1], data: out }
      : { shape: [x.data.length, channels, 1], data: out };
  };
}

/**
 * The function of one layer (weights read now); undefined for layer types it does not handle,
 * an error for parameters it does not.
 */
export function compileLayer(layer: NeuralNetworkLayer): LayerFunction | undefined {
  const { value, case: type } = layer.layer;
  switch (type) {
    case "convolution":
      return convolution(layer);
    case "innerProduct":
      return innerProduct(layer);
    case "batchnorm":
      return batchnorm(layer);
    case "activation":
      return activationFunction(layer, value as ActivationParams);
    case "unary":
      return unaryFunction(layer);
    case "pooling":
      return pooling(layer);
    case "concat":
      if (layer.layer.value.sequenceConcat) {
        throw new UnsupportedError(`layer "${layer.name}": concatenation along the sequence axis`);
      }
      return (xs) => concat(xs, 0);
    case "softmax":
      return ([x]) => softmax(x, 0);
    case "flatten": {
      const channelLast = layer.layer.value.mode === FlattenLayerParams_FlattenOrder.CHANNEL_LAST;
      return ([x]) => {
        const data = channelLast ? transpose(x, [1, 2, 0]).data : x.data;
        return { shape: [data.length, 1, 1], data };
      };
    }
    case "add":
      return combine(layer, (a, b) => a + b, layer.layer.value.alpha);
    case "multiply":
      return combine(layer, (a, b) => a * b, layer.layer.value.alpha);
    case "upsample":
      return upsample(layer);
    case "embedding":
      return embedding(layer);
    default:
      return compileLayoutLayer(layer);
  }
}
