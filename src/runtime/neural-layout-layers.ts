/**
 * Neural-network layers that scale, normalize, move, cut or combine blobs [C, H, W] (see
 * neural-layers.ts for the convolutional ones).
 */
import { UnsupportedError } from "../errors.js";
import type { NeuralNetworkLayer, WeightParams } from "../format/gen/NeuralNetwork_pb.js";
import {
  ReduceLayerParams_ReduceAxis,
  ReduceLayerParams_ReduceOperation,
  ReshapeLayerParams_ReshapeOrder,
} from "../format/gen/NeuralNetwork_pb.js";
import { mapBinary, mapUnary, type Dense } from "../kernels/ops/elementwise.js";
import { pad, stridedSlice, transpose } from "../kernels/ops/layout.js";
import { borderPads, num, pair, weightValues, type LayerFunction } from "./neural-layer-params.js";

/** A stored [1], [C], [1, H, W] or [C, H, W] parameter as a blob that broadcasts. */
function broadcastable(
  layer: NeuralNetworkLayer,
  field: string,
  shape: bigint[],
  params?: WeightParams,
): Dense {
  const dims = shape.map(num);
  const blob = dims.length === 1 ? [dims[0], 1, 1] : dims.length === 3 ? dims : undefined;
  if (!blob)
    throw new UnsupportedError(`layer "${layer.name}": ${field} of shape [${dims.join(",")}]`);
  return { shape: blob, data: weightValues(layer, field, params, blob[0] * blob[1] * blob[2]) };
}

/** Index of the window start and end of a channel's LRN neighbourhood. */
function channelWindow(c: number, size: number, channels: number): [number, number] {
  const before = Math.floor((size - 1) / 2);
  return [Math.max(0, c - before), Math.min(channels - 1, c + size - 1 - before)];
}

/** x less its mean (and divided by its deviation) within each of `groups` equal runs. */
function normalizeGroups(x: Dense, groups: number, epsilon: number, variance: boolean): Dense {
  const size = x.data.length / groups;
  const out = new Float32Array(x.data.length);
  for (let g = 0; g < groups; g++) {
    const values = x.data.subarray(g * size, (g + 1) * size);
    const mean = values.reduce((a, v) => a + v, 0) / size;
    const spread = variance
      ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / size + epsilon)
      : 1;
    for (let i = 0; i < size; i++) out[g * size + i] = (values[i] - mean) / spread;
  }
  return { shape: x.shape, data: out };
}

/** Layers that scale, normalize, move or cut blobs. */
export function compileLayoutLayer(layer: NeuralNetworkLayer): LayerFunction | undefined {
  const { case: type } = layer.layer;
  switch (layer.layer.case) {
    case "scale": {
      const p = layer.layer.value;
      const scale = broadcastable(layer, "scale", p.shapeScale, p.scale);
      const bias = p.hasBias ? broadcastable(layer, "bias", p.shapeBias, p.bias) : undefined;
      return ([x]) => {
        const scaled = mapBinary(x, scale, (a, b) => a * b);
        return bias ? mapBinary(scaled, bias, (a, b) => a + b) : scaled;
      };
    }
    case "bias": {
      const p = layer.layer.value;
      const bias = broadcastable(layer, "bias", p.shape, p.bias);
      return ([x]) => mapBinary(x, bias, (a, b) => a + b);
    }
    case "loadConstant": {
      const p = layer.layer.value;
      const data = broadcastable(layer, "data", p.shape, p.data);
      return () => data;
    }
    case "padding": {
      const p = layer.layer.value;
      const [top, bottom, left, right] = borderPads(p.paddingAmounts);
      const mode =
        p.PaddingType.case === "reflection"
          ? "reflect"
          : p.PaddingType.case === "replication"
            ? "replicate"
            : "constant";
      const value = p.PaddingType.case === "constant" ? p.PaddingType.value.value : 0;
      return ([x]) =>
        pad(
          x,
          [
            [0, 0],
            [top, bottom],
            [left, right],
          ],
          mode,
          value,
        );
    }
    case "crop": {
      const p = layer.layer.value;
      const [top, bottom, left, right] = borderPads(p.cropAmounts);
      const [dy, dx] = pair(p.offset, 0);
      return ([x, like]) => {
        const [c, h, w] = x.shape;
        const [y0, x0, oh, ow] = like
          ? [dy, dx, like.shape[1], like.shape[2]]
          : [top, left, h - top - bottom, w - left - right];
        if (y0 + oh > h || x0 + ow > w || oh <= 0 || ow <= 0) {
          throw new UnsupportedError(
            `layer "${layer.name}": crop outside a [${x.shape.join(",")}] blob`,
          );
        }
        return stridedSlice(x, [0, y0, x0], [c, oh, ow], [1, 1, 1]);
      };
    }
    case "lrn": {
      const p = layer.layer.value;
      const size = Math.max(1, num(p.localSize));
      const k = p.k === 0 ? 1 : p.k;
      return ([x]) => {
        const [c] = x.shape;
        const plane = x.data.length / c;
        const out = new Float32Array(x.data.length);
        for (let ch = 0; ch < c; ch++) {
          const [from, to] = channelWindow(ch, size, c);
          for (let i = 0; i < plane; i++) {
            let squares = 0;
            for (let j = from; j <= to; j++) squares += x.data[j * plane + i] ** 2;
            out[ch * plane + i] =
              x.data[ch * plane + i] / (k + (p.alpha / size) * squares) ** p.beta;
          }
        }
        return { shape: x.shape, data: out };
      };
    }
    case "l2normalize": {
      const epsilon = layer.layer.value.epsilon;
      return ([x]) => {
        const norm = Math.sqrt(x.data.reduce((a, v) => a + v * v, 0) + epsilon);
        return mapUnary(x, (v) => v / norm);
      };
    }
    case "mvn": {
      const p = layer.layer.value;
      return ([x]) =>
        normalizeGroups(x, p.acrossChannels ? 1 : x.shape[0], p.epsilon, p.normalizeVariance);
    }
    case "reshape": {
      const p = layer.layer.value;
      const target = p.targetShape.map(num);
      const shape = target.length === 4 && target[0] === 1 ? target.slice(1) : target;
      if (shape.length !== 3) {
        throw new UnsupportedError(`layer "${layer.name}": reshape to [${target.join(",")}]`);
      }
      const channelLast = p.mode === ReshapeLayerParams_ReshapeOrder.CHANNEL_LAST;
      return ([x]) => {
        if (!channelLast) return { shape, data: x.data };
        // Flattened in H, W, C order, then read back as [H_out, W_out, C_out].
        const flat = transpose(x, [1, 2, 0]).data;
        return transpose({ shape: [shape[1], shape[2], shape[0]], data: flat }, [2, 0, 1]);
      };
    }
    case "permute": {
      const axes = layer.layer.value.axis.map(num);
      if (axes.length === 0) return ([x]) => x;
      if (axes.length !== 4 || axes[0] !== 0) {
        throw new UnsupportedError(
          `layer "${layer.name}": permutation [${axes.join(",")}] moves the sequence axis`,
        );
      }
      return ([x]) =>
        transpose(
          x,
          axes.slice(1).map((a) => a - 1),
        );
    }
    case "split": {
      const parts = Math.max(1, num(layer.layer.value.nOutputs) || layer.output.length);
      return ([x]) => {
        const [c, h, w] = x.shape;
        const size = c / parts;
        return Array.from({ length: parts }, (_, i) =>
          stridedSlice(x, [i * size, 0, 0], [size, h, w], [1, 1, 1]),
        );
      };
    }
    case "slice": {
      const p = layer.layer.value;
      const axis = p.axis;
      const stride = Math.max(1, num(p.stride));
      return ([x]) => {
        const n = x.shape[axis];
        const at = (i: number) => Math.min(n, Math.max(0, i < 0 ? n + i : i));
        const start = at(num(p.startIndex));
        const end = at(num(p.endIndex));
        const count = Math.max(0, Math.ceil((end - start) / stride));
        const begin = [0, 0, 0];
        const size = [...x.shape];
        const steps = [1, 1, 1];
        begin[axis] = start;
        size[axis] = count;
        steps[axis] = stride;
        return stridedSlice(x, begin, size, steps);
      };
    }
    case "average":
    case "max":
    case "min": {
      const fn =
        type === "max" ? Math.max : type === "min" ? Math.min : (a: number, b: number) => a + b;
      return (xs) => {
        const combined = xs.slice(1).reduce((acc, x) => mapBinary(acc, x, fn), xs[0]);
        return type === "average" ? mapUnary(combined, (v) => v / xs.length) : combined;
      };
    }
    case "dot": {
      const cosine = layer.layer.value.cosineSimilarity;
      return ([a, b]) => {
        let dot = 0;
        let aa = 0;
        let bb = 0;
        for (let i = 0; i < a.data.length; i++) {
          dot += a.data[i] * b.data[i];
          aa += a.data[i] ** 2;
          bb += b.data[i] ** 2;
        }
        return { shape: [1, 1, 1], data: Float32Array.of(cosine ? dot / Math.sqrt(aa * bb) : dot) };
      };
    }
    case "reduce":
      return reduceLayer(layer);
    default:
      return undefined;
  }
}

/** Reduction over C, H, W or several of them; reduced axes stay, with size 1. */
function reduceLayer(layer: NeuralNetworkLayer): LayerFunction {
  if (layer.layer.case !== "reduce") throw new Error("not a reduction");
  const { mode, axis } = layer.layer.value;
  const A = ReduceLayerParams_ReduceAxis;
  const O = ReduceLayerParams_ReduceOperation;
  const reduced = (
    {
      [A.CHW]: [true, true, true],
      [A.HW]: [false, true, true],
      [A.C]: [true, false, false],
      [A.H]: [false, true, false],
      [A.W]: [false, false, true],
    } as Record<number, boolean[]>
  )[axis];
  if (!reduced) throw new UnsupportedError(`layer "${layer.name}": reduction axis ${axis}`);
  if (mode === O.LOGSUM || (mode === O.ARGMAX && reduced.filter(Boolean).length > 1)) {
    throw new UnsupportedError(`layer "${layer.name}": reduction mode ${O[mode]} over these axes`);
  }
  return ([x]) => {
    const shape = x.shape.map((s, d) => (reduced[d] ? 1 : s));
    const [c, h, w] = x.shape;
    const out = new Float32Array(shape[0] * shape[1] * shape[2]);
    for (let o = 0; o < out.length; o++) {
      const oc = Math.floor(o / (shape[1] * shape[2]));
      const oy = Math.floor(o / shape[2]) % shape[1];
      const ox = o % shape[2];
      let acc =
        mode === O.PROD
          ? 1
          : mode === O.MAX || mode === O.ARGMAX
            ? -Infinity
            : mode === O.MIN
              ? Infinity
              : 0;
      let count = 0;
      let best = 0;
      for (let ic = reduced[0] ? 0 : oc; ic < (reduced[0] ? c : oc + 1); ic++) {
        for (let iy = reduced[1] ? 0 : oy; iy < (reduced[1] ? h : oy + 1); iy++) {
          for (let ix = reduced[2] ? 0 : ox; ix < (reduced[2] ? w : ox + 1); ix++) {
            const v = x.data[(ic * h + iy) * w + ix];
            if (mode === O.PROD) acc *= v;
            else if (mode === O.SUMSQUARE || mode === O.L2) acc += v * v;
            else if (mode === O.L1) acc += Math.abs(v);
            else if (mode === O.MAX || mode === O.ARGMAX) {
              if (v > acc) [acc, best] = [v, count];
            } else if (mode === O.MIN) acc = Math.min(acc, v);
            else acc += v;
            count++;
          }
        }
      }
      out[o] =
        mode === O.AVG
          ? acc / count
          : mode === O.L2
            ? Math.sqrt(acc)
            : mode === O.ARGMAX
              ? best
              : acc;
    }
    return { shape, data: out };
  };
}
