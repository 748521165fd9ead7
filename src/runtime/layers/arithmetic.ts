/**
 * Layers combining blobs value by value with numpy broadcasting: sums, products, extremes,
 * comparisons, logic, selection, and the stored scale and bias.
 */
import type { NeuralNetworkLayer, WeightParams } from "../../format/gen/NeuralNetwork_pb.js";
import { mapBinary, mapUnary, select, type Dense } from "../../kernels/ops/elementwise.js";
import {
  channelView,
  num,
  paramsOf,
  unsupported,
  weightValues,
  type LayerCompiler,
} from "./params.js";

type Binary = (a: number, b: number) => number;

/** Folds every input with fn, or applies fn(x, alpha) to a single input. */
const fold =
  (fn: Binary, alpha = 0) =>
  ([first, ...rest]: Dense[]): Dense =>
    rest.length === 0
      ? mapUnary(first, (v) => fn(v, alpha))
      : rest.reduce((acc, x) => mapBinary(acc, x, fn), first);

/** A layer of exactly two broadcast inputs. */
const broadcastable =
  (fn: Binary): LayerCompiler =>
  (layer) =>
  ([a, b]) => {
    if (!b) throw unsupported(layer, "needs two inputs");
    return mapBinary(a, b, fn);
  };

/** A comparison of two inputs, or of one input with the layer's alpha. */
const comparison =
  (fn: (a: number, b: number) => boolean): LayerCompiler =>
  (layer) => {
    const alpha = (layer.layer.value as { alpha?: number }).alpha ?? 0;
    return fold((a, b) => (fn(a, b) ? 1 : 0), alpha);
  };

const truth = (v: number) => v !== 0;
const logical = (fn: (a: boolean, b: boolean) => boolean): LayerCompiler =>
  broadcastable((a, b) => (fn(truth(a), truth(b)) ? 1 : 0));

/** A stored [1], [C], [1, H, W] or [C, H, W] parameter, shaped to broadcast over [..., C, H, W]. */
function stored(
  layer: NeuralNetworkLayer,
  field: string,
  shape: bigint[],
  params?: WeightParams,
): Dense {
  const dims = shape.map(num);
  const blob = dims.length === 1 ? [dims[0], 1, 1] : dims.length === 3 ? dims : undefined;
  if (!blob) throw unsupported(layer, `${field} of shape [${dims.join(",")}]`);
  return { shape: blob, data: weightValues(layer, field, params, blob[0] * blob[1] * blob[2]) };
}

const floorMod: Binary = (a, b) => a - Math.floor(a / b) * b;

const add: Binary = (a, b) => a + b;
const multiply: Binary = (a, b) => a * b;

export const ARITHMETIC_LAYERS = {
  add: (layer) => fold(add, paramsOf(layer, "add").alpha),
  multiply: (layer) => fold(multiply, paramsOf(layer, "multiply").alpha),
  max: () => fold(Math.max, -Infinity),
  min: () => fold(Math.min, Infinity),
  average: () => (xs) => mapUnary(fold(add)(xs), (v) => v / xs.length),
  addBroadcastable: broadcastable(add),
  subtractBroadcastable: broadcastable((a, b) => a - b),
  multiplyBroadcastable: broadcastable(multiply),
  divideBroadcastable: broadcastable((a, b) => a / b),
  floorDivBroadcastable: broadcastable((a, b) => Math.floor(a / b)),
  modBroadcastable: broadcastable(floorMod),
  powBroadcastable: broadcastable(Math.pow),
  maxBroadcastable: broadcastable(Math.max),
  minBroadcastable: broadcastable(Math.min),
  equal: comparison((a, b) => a === b),
  notEqual: comparison((a, b) => a !== b),
  lessThan: comparison((a, b) => a < b),
  lessEqual: comparison((a, b) => a <= b),
  greaterThan: comparison((a, b) => a > b),
  greaterEqual: comparison((a, b) => a >= b),
  logicalAnd: logical((a, b) => a && b),
  logicalOr: logical((a, b) => a || b),
  logicalXor: logical((a, b) => a !== b),
  logicalNot:
    () =>
    ([x]) =>
      mapUnary(x, (v) => (v === 0 ? 1 : 0)),
  whereBroadcastable:
    (layer) =>
    ([cond, a, b]) => {
      if (!b) throw unsupported(layer, "needs a condition and two inputs");
      return select(cond, a, b);
    },
  scale: (layer) => {
    const p = paramsOf(layer, "scale");
    const scale = stored(layer, "scale", p.shapeScale, p.scale);
    const bias = p.hasBias ? stored(layer, "bias", p.shapeBias, p.bias) : undefined;
    return ([x]) => {
      const scaled = mapBinary(x, scale, multiply);
      return bias ? mapBinary(scaled, bias, add) : scaled;
    };
  },
  bias: (layer) => {
    const p = paramsOf(layer, "bias");
    const bias = stored(layer, "bias", p.shape, p.bias);
    return ([x]) => mapBinary(x, bias, add);
  },
  /** Dot product (or cosine similarity) over the channel axis of [..., C, 1, 1] blobs. */
  dot: (layer) => {
    const cosine = paramsOf(layer, "dot").cosineSimilarity;
    return ([a, b]) => {
      const [n, c, h, w] = channelView(a);
      if (b.data.length !== a.data.length) throw unsupported(layer, "inputs of different sizes");
      const length = c * h * w;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let dot = 0;
        let aa = 0;
        let bb = 0;
        for (let k = i * length; k < (i + 1) * length; k++) {
          dot += a.data[k] * b.data[k];
          aa += a.data[k] ** 2;
          bb += b.data[k] ** 2;
        }
        out[i] = cosine ? dot / Math.sqrt(aa * bb) : dot;
      }
      const lead = a.shape.length > 3 ? a.shape.slice(0, -3) : [];
      return { shape: [...lead, 1, 1, 1], data: out };
    };
  },
} satisfies Record<string, LayerCompiler>;
