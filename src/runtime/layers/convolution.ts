/**
 * Layers over the spatial axes of [..., C, H, W] blobs (axes before C are a batch): convolution,
 * pooling, upsampling, padding, crops and depth/space rearrangements.
 */
import type { NeuralNetworkLayer, SamePadding } from "../../format/gen/NeuralNetwork_pb.js";
import {
  BoxCoordinatesMode_Coordinates,
  GlobalPooling3DLayerParams_GlobalPoolingType3D,
  Pooling3DLayerParams_PoolingType3D,
  PoolingLayerParams_PoolingType,
  ReorganizeDataLayerParams_ReorganizationType,
  SamePadding_SamePaddingMode,
  SamplingMode_Method,
  UpsampleLayerParams_InterpolationMode,
  UpsampleLayerParams_LinearUpsampleMode,
} from "../../format/gen/NeuralNetwork_pb.js";
import { elementCount } from "../../kernels/dtype.js";
import {
  conv2d,
  convTranspose2d,
  pool2d,
  poolOutputSize,
  spatialPadding,
  type Window2d,
} from "../../kernels/ops/conv.js";
import { conv3d, pool3d, type Window3d } from "../../kernels/ops/conv3d.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import { pad, stridedSlice, transpose, upsampleNearest } from "../../kernels/ops/movement.js";
import { bilinearResize, cropAndResize, type BilinearGrid } from "../../kernels/ops/resample.js";
import {
  borderPads,
  channelView,
  num,
  pair,
  sizePair,
  paramsOf,
  unsupported,
  weightValues,
  withChannels,
  type LayerCompiler,
} from "./params.js";

/** A blob as the [N, C, H, W] the spatial kernels take. */
const batched = (x: Dense): Dense => ({ shape: channelView(x), data: x.data });

/** The kernel's [N, C', H', W'] result in the input's rank. */
const unbatched = (x: Dense, result: Dense): Dense =>
  withChannels(x, result.shape.slice(1), result.data);

/** TensorFlow-style "same" padding of H and W for input [h, w]. */
export function samePads(
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

const convolution: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "convolution");
  const kernel = sizePair(layer, "kernelSize", p.kernelSize, 3);
  const strides = sizePair(layer, "stride", p.stride, 1);
  // Deconvolutions ignore the dilation factors.
  const dilations = p.isDeconvolution
    ? ([1, 1] as [number, number])
    : sizePair(layer, "dilationFactor", p.dilationFactor, 1);
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
  return ([x], run) => {
    const [, c, h, w] = channelView(x);
    if (c !== inputChannels) {
      throw unsupported(
        layer,
        `a [${x.shape.join(",")}] blob, its weights take ${inputChannels} channels`,
      );
    }
    const size: [number, number] = [h, w];
    if (!p.isDeconvolution) {
      const pads =
        padding.case === "same"
          ? samePads(padding.value, size, kernel, strides, dilations)
          : borderPads(padding.value?.paddingAmounts);
      const win: Window2d = { kernel, strides, dilations, pads };
      return unbatched(x, conv2d(batched(x), weight, bias, win, groups, run.multiply));
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
    return unbatched(x, convTranspose2d(batched(x), weight, bias, win, groups, outSize));
  };
};

const pooling: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "pooling");
  const T = PoolingLayerParams_PoolingType;
  if (p.type === T.L2) throw unsupported(layer, "L2 pooling");
  const kind = p.type === T.MAX ? "max" : "avg";
  // A global pooling's window is the whole plane, whatever its other fields say.
  const unit: [number, number] = [1, 1];
  const kernel = p.globalPooling ? unit : sizePair(layer, "kernelSize", p.kernelSize, 3);
  const strides = p.globalPooling ? unit : sizePair(layer, "stride", p.stride, 1);
  const padding = p.PoolingPaddingType;
  return ([x]) => {
    const [, , h, w] = channelView(x);
    const size: [number, number] = [h, w];
    if (p.globalPooling) {
      const win: Window2d = {
        kernel: size,
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0, 0, 0, 0],
      };
      return unbatched(x, pool2d(batched(x), win, [1, 1], kind, false));
    }
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
    return unbatched(x, pool2d(batched(x), win, outSize, kind, p.avgPoolExcludePadding));
  };
};

/** The sampling grid of the upsample layer's linear modes. */
function upsampleGrid(mode: number): BilinearGrid {
  const M = UpsampleLayerParams_LinearUpsampleMode;
  if (mode === M.ALIGN_CORNERS_TRUE) return "align_corners";
  if (mode === M.ALIGN_CORNERS_FALSE) return "half_pixel";
  return "upsample";
}

const upsample: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "upsample");
  const fractional = p.fractionalScalingFactor.length >= 2;
  const [sh, sw] = fractional
    ? [p.fractionalScalingFactor[0], p.fractionalScalingFactor[1]]
    : sizePair(layer, "scalingFactor", p.scalingFactor, 1);
  const bilinear = p.mode === UpsampleLayerParams_InterpolationMode.BILINEAR;
  if (fractional && !bilinear) throw unsupported(layer, "fractional nearest-neighbour upsampling");
  return ([x]) => {
    const [, , h, w] = channelView(x);
    const outH = Math.floor(h * sh);
    const outW = Math.floor(w * sw);
    return bilinear
      ? bilinearResize(x, outH, outW, upsampleGrid(p.linearUpsampleMode))
      : upsampleNearest(x, outH, outW, sh, sw);
  };
};

/** The grid of a sampling mode (resizeBilinear, cropResize). */
function samplingGrid(layer: NeuralNetworkLayer, method: number): BilinearGrid {
  const M = SamplingMode_Method;
  const grids: Record<number, BilinearGrid> = {
    [M.STRICT_ALIGN_ENDPOINTS_MODE]: "align_corners",
    [M.ALIGN_ENDPOINTS_MODE]: "align_endpoints",
    [M.UPSAMPLE_MODE]: "upsample",
    [M.ROI_ALIGN_MODE]: "roi_align",
  };
  const grid = grids[method];
  if (!grid) throw unsupported(layer, `sampling mode ${method}`);
  return grid;
}

/** A box as [y0, x0, y1, x1] from the four values of its coordinate mode. */
function boxCorners(mode: number, [a, b, c, d]: number[]): [number, number, number, number] {
  const B = BoxCoordinatesMode_Coordinates;
  if (mode === B.CORNERS_WIDTH_FIRST) return [b, a, d, c];
  if (mode === B.CENTER_SIZE_HEIGHT_FIRST) return [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
  if (mode === B.CENTER_SIZE_WIDTH_FIRST) return [b - d / 2, a - c / 2, b + d / 2, a + c / 2];
  return [a, b, c, d];
}

/**
 * Boxes cut from the feature map [1, Batch, C, H, W] and resized: roi [N, 1, 4, 1, 1] takes
 * every box from every batch item ([N, Batch, C, H', W']); [N, 1, 5, 1, 1] names the item
 * first ([N, 1, C, H', W']).
 */
const cropResize: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "cropResize");
  const [outH, outW] = pair(p.targetSize, 1);
  const grid = samplingGrid(layer, p.mode?.samplingMethod ?? 0);
  const scale = p.spatialScale || 1;
  return ([x, roi]) => {
    if (!roi) throw unsupported(layer, "needs a feature map and boxes");
    const [batch, c, h, w] = channelView(x);
    const boxes = roi.shape[0];
    const width = roi.data.length / boxes;
    if (width !== 4 && width !== 5) throw unsupported(layer, `boxes of shape [${roi.shape}]`);
    const items = width === 5 ? 1 : batch;
    const plane = c * outH * outW;
    const out = new Float32Array(boxes * items * plane);
    for (let n = 0; n < boxes; n++) {
      const row = Array.from(roi.data.subarray(n * width, (n + 1) * width));
      const coords = boxCorners(p.boxIndicesMode?.boxMode ?? 0, row.slice(width - 4)).map(
        (v, k) => v * scale * (p.normalizedCoordinates ? (k % 2 ? w - 1 : h - 1) : 1),
      ) as [number, number, number, number];
      for (let i = 0; i < items; i++) {
        const item = width === 5 ? Math.trunc(row[0]) : i;
        if (!(item >= 0 && item < batch)) throw unsupported(layer, `batch index ${row[0]}`);
        const image = {
          shape: [c, h, w],
          data: x.data.subarray(item * c * h * w, (item + 1) * c * h * w),
        };
        out.set(cropAndResize(image, coords, outH, outW, grid).data, (n * items + i) * plane);
      }
    }
    return { shape: [boxes, items, c, outH, outW], data: out };
  };
};

const resizeBilinear: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "resizeBilinear");
  const [outH, outW] = pair(p.targetSize, 1);
  const grid = samplingGrid(layer, p.mode?.samplingMethod ?? 0);
  return ([x]) => bilinearResize(x, outH, outW, grid);
};

const padding: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "padding");
  const [top, bottom, left, right] = borderPads(p.paddingAmounts);
  const mode =
    p.PaddingType.case === "reflection"
      ? "reflect"
      : p.PaddingType.case === "replication"
        ? "replicate"
        : "constant";
  const value = p.PaddingType.case === "constant" ? p.PaddingType.value.value : 0;
  return ([x]) => {
    const pads = x.shape.map((): [number, number] => [0, 0]);
    pads[pads.length - 2] = [top, bottom];
    pads[pads.length - 1] = [left, right];
    return pad(x, pads, mode, value);
  };
};

const crop: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "crop");
  const [top, bottom, left, right] = borderPads(p.cropAmounts);
  const [dy, dx] = pair(p.offset, 0);
  return ([x, like]) => {
    const [, , h, w] = channelView(x);
    const [y0, x0, oh, ow] = like
      ? [dy, dx, ...channelView(like).slice(2)]
      : [top, left, h - top - bottom, w - left - right];
    if (y0 + oh > h || x0 + ow > w || oh <= 0 || ow <= 0) {
      throw unsupported(layer, `crop outside a [${x.shape.join(",")}] blob`);
    }
    const r = x.shape.length;
    const begin = x.shape.map((_, i) => (i === r - 2 ? y0 : i === r - 1 ? x0 : 0));
    const size = x.shape.map((d, i) => (i === r - 2 ? oh : i === r - 1 ? ow : d));
    return stridedSlice(
      x,
      begin,
      size,
      size.map(() => 1),
    );
  };
};

/**
 * Space to depth and back on [N, C, H, W]: DEPTH_TO_SPACE reads channel (i·b + j)·C' + c,
 * PIXEL_SHUFFLE channel c·b² + i·b + j.
 */
const reorganizeData: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "reorganizeData");
  const b = Math.max(1, num(p.blockSize));
  const R = ReorganizeDataLayerParams_ReorganizationType;
  return ([x]) => {
    const [n, c, h, w] = channelView(x);
    if (p.mode === R.SPACE_TO_DEPTH) {
      if (h % b || w % b) throw unsupported(layer, `H and W must divide by ${b}`);
      const moved = transpose(
        { shape: [n, c, h / b, b, w / b, b], data: x.data },
        [0, 3, 5, 1, 2, 4],
      );
      return withChannels(x, [c * b * b, h / b, w / b], moved.data);
    }
    const oc = c / (b * b);
    if (!Number.isInteger(oc)) throw unsupported(layer, `${c} channels in blocks of ${b}²`);
    const pixelShuffle = p.mode === R.PIXEL_SHUFFLE;
    const view = pixelShuffle ? [n, oc, b, b, h, w] : [n, b, b, oc, h, w];
    const perm = pixelShuffle ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
    const moved = transpose({ shape: view, data: x.data }, perm);
    return withChannels(x, [oc, h * b, w * b], moved.data);
  };
};

/** The padding of a 3-D layer's spatial axes: custom amounts, none, or TensorFlow's "same". */
function pads3d(
  p: {
    customPaddingFront: number;
    customPaddingBack: number;
    customPaddingTop: number;
    customPaddingBottom: number;
    customPaddingLeft: number;
    customPaddingRight: number;
  },
  type: "custom" | "valid" | "same",
  size: readonly number[],
  win: Omit<Window3d, "pads">,
): Window3d["pads"] {
  const custom: [number, number][] = [
    [p.customPaddingFront, p.customPaddingBack],
    [p.customPaddingTop, p.customPaddingBottom],
    [p.customPaddingLeft, p.customPaddingRight],
  ];
  const axis = (i: number) =>
    spatialPadding(type, size[i], win.kernel[i], win.strides[i], win.dilations[i], custom[i]);
  return [...axis(0), ...axis(1), ...axis(2)];
}

const PADDING_3D = ["custom", "valid", "same"] as const;

/** Checks a 3-D layer's input is [N, C, D, H, W]. */
function rank5(layer: NeuralNetworkLayer, x: Dense): readonly number[] {
  if (x.shape.length !== 5)
    throw unsupported(layer, `a rank ${x.shape.length} blob (needs rank 5)`);
  return x.shape.slice(2);
}

const convolution3d: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "convolution3d");
  if (p.isDeconvolution) throw unsupported(layer, "3-D deconvolution");
  const groups = Math.max(1, p.nGroups);
  const kernel: [number, number, number] = [p.kernelDepth, p.kernelHeight, p.kernelWidth];
  const shape = [p.outputChannels, p.inputChannels / groups, ...kernel];
  const weight: Dense = {
    shape,
    data: weightValues(layer, "weights", p.weights, elementCount(shape)),
  };
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, p.outputChannels) : undefined;
  const window = {
    kernel,
    strides: [p.strideDepth || 1, p.strideHeight || 1, p.strideWidth || 1] as [
      number,
      number,
      number,
    ],
    dilations: [p.dilationDepth || 1, p.dilationHeight || 1, p.dilationWidth || 1] as [
      number,
      number,
      number,
    ],
  };
  return ([x]) => {
    const size = rank5(layer, x);
    if (x.shape[1] !== p.inputChannels) {
      throw unsupported(layer, `a [${x.shape}] blob, its weights take ${p.inputChannels} channels`);
    }
    const pads = pads3d(p, PADDING_3D[p.paddingType] ?? "custom", size, window);
    return conv3d(x, weight, bias, { ...window, pads }, groups);
  };
};

const pooling3d: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "pooling3d");
  const kind = p.type === Pooling3DLayerParams_PoolingType3D.MAX ? "max" : "avg";
  const window = {
    kernel: [p.kernelDepth, p.kernelHeight, p.kernelWidth] as [number, number, number],
    strides: [p.strideDepth || 1, p.strideHeight || 1, p.strideWidth || 1] as [
      number,
      number,
      number,
    ],
    dilations: [1, 1, 1] as [number, number, number],
  };
  return ([x]) => {
    const size = rank5(layer, x);
    const pads = pads3d(p, PADDING_3D[p.paddingType] ?? "custom", size, window);
    return pool3d(x, { ...window, pads }, kind, p.countExcludePadding);
  };
};

/** Max or average over D, H and W: [N, C, 1, 1, 1]. */
const globalPooling3d: LayerCompiler = (layer) => {
  const max =
    paramsOf(layer, "globalPooling3d").type === GlobalPooling3DLayerParams_GlobalPoolingType3D.MAX;
  return ([x]) => {
    const size = rank5(layer, x);
    const kernel = size as [number, number, number];
    const win: Window3d = {
      kernel,
      strides: [1, 1, 1],
      dilations: [1, 1, 1],
      pads: [0, 0, 0, 0, 0, 0],
    };
    return pool3d(x, win, max ? "max" : "avg", false);
  };
};

export const CONVOLUTION_LAYERS = {
  convolution3d,
  pooling3d,
  globalPooling3d,
  convolution,
  pooling,
  upsample,
  resizeBilinear,
  cropResize,
  padding,
  crop,
  reorganizeData,
} satisfies Record<string, LayerCompiler>;
