/**
 * Layers that change how a blob's values are shaped or ordered without computing new ones:
 * reshapes, flattens, permutations, squeezes, broadcasts, tiling, and its shape as a blob.
 */
import type { NeuralNetworkLayer } from "../../format/gen/NeuralNetwork_pb.js";
import {
  FlattenLayerParams_FlattenOrder,
  ReshapeLayerParams_ReshapeOrder,
} from "../../format/gen/NeuralNetwork_pb.js";
import { mapBinary, type Dense } from "../../kernels/ops/elementwise.js";
import { concat, tile, transpose } from "../../kernels/ops/movement.js";
import { broadcastShapes, normalizeAxis, reshapeTarget } from "../../kernels/ops/shape.js";
import { elementCount } from "../../kernels/dtype.js";
import {
  channelView,
  intsOf,
  num,
  paramsOf,
  unsupported,
  withChannels,
  type LayerCompiler,
} from "./params.js";

/** x's values under a new shape, refused (naming the layer) when the counts differ. */
function reshaped(layer: NeuralNetworkLayer, x: Dense, requested: readonly number[]): Dense {
  const shape = reshapeTarget(x.shape, requested);
  if (!shape) {
    throw unsupported(layer, `cannot reshape [${x.shape.join(",")}] to [${requested.join(",")}]`);
  }
  return { shape, data: x.data };
}

/** [N, C, H, W] values in H, W, C order per item (the channel-last flattening). */
const channelLast = (x: Dense): Float32Array =>
  transpose({ shape: channelView(x), data: x.data }, [0, 2, 3, 1]).data;

/**
 * The rank-5 reshape: a target [C, H, W] keeps the sequence and batch axes, [Seq, C, H, W]
 * replaces the sequence axis too; CHANNEL_LAST reads and writes values in H, W, C order.
 */
const reshape: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "reshape");
  const target = p.targetShape.map(num);
  if (target.length !== 3 && target.length !== 4) {
    throw unsupported(layer, `reshape to [${target.join(",")}]`);
  }
  const chw = target.slice(-3);
  const channelsLast = p.mode === ReshapeLayerParams_ReshapeOrder.CHANNEL_LAST;
  return ([x]) => {
    const lead = x.shape.length > 3 ? x.shape.slice(0, -3) : [];
    const shape =
      target.length === 4
        ? [target[0], ...(lead.length > 1 ? [lead[1]] : []), ...chw]
        : [...lead, ...chw];
    if (elementCount(shape) !== x.data.length) {
      throw unsupported(layer, `cannot reshape [${x.shape.join(",")}] to [${target.join(",")}]`);
    }
    if (!channelsLast) return { shape, data: x.data };
    const items = x.data.length / elementCount(chw);
    const flat = channelLast(x);
    const [c, h, w] = chw;
    const back = transpose({ shape: [items, h, w, c], data: flat }, [0, 3, 1, 2]);
    return { shape, data: back.data };
  };
};

/** [..., C, H, W] to [..., C·H·W, 1, 1], in C, H, W or (CHANNEL_LAST) H, W, C order. */
const flatten: LayerCompiler = (layer) => {
  const last = paramsOf(layer, "flatten").mode === FlattenLayerParams_FlattenOrder.CHANNEL_LAST;
  return ([x]) => {
    const [, c, h, w] = channelView(x);
    return withChannels(x, [c * h * w, 1, 1], last ? channelLast(x) : x.data);
  };
};

/**
 * The rank-5 permutation: `axis` permutes [Seq, C, H, W] (axes 0, 2, 3, 4 of [Seq, Batch, C,
 * H, W]); the batch axis stays. Blobs of lower rank are read with leading axes of size 1.
 */
const permute: LayerCompiler = (layer) => {
  const axes = paramsOf(layer, "permute").axis.map(num);
  if (axes.length === 0) return ([x]) => x;
  if (axes.length !== 4 || [...axes].sort().join() !== "0,1,2,3") {
    throw unsupported(layer, `permutation [${axes.join(",")}]`);
  }
  const position = [0, 2, 3, 4];
  const perm = [position[axes[0]], 1, ...axes.slice(1).map((a) => position[a])];
  return ([x]) => {
    if (x.shape.length > 5) throw unsupported(layer, `a rank ${x.shape.length} blob`);
    const padded = [...new Array<number>(5 - x.shape.length).fill(1), ...x.shape];
    const result = transpose({ shape: padded, data: x.data }, perm);
    // Back to the input's rank when the axes it did not have are still leading ones.
    const extra = 5 - x.shape.length;
    const leading = result.shape.slice(0, extra).every((d) => d === 1);
    return leading ? { shape: result.shape.slice(extra), data: result.data } : result;
  };
};

const transposeLayer: LayerCompiler = (layer) => {
  const axes = paramsOf(layer, "transpose").axes.map(num);
  return ([x]) => {
    if (axes.length !== x.shape.length) {
      throw unsupported(layer, `permutation [${axes}] of a rank ${x.shape.length} blob`);
    }
    return transpose(x, axes);
  };
};

/** Removes the listed axes of size 1 (or all of them); a result of rank 0 is [1]. */
const squeeze: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "squeeze");
  return ([x]) => {
    const rank = x.shape.length;
    const axes = p.squeezeAll
      ? new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])))
      : new Set(p.axes.map((a) => normalizeAxis(num(a), rank)));
    for (const a of axes) {
      if (x.shape[a] !== 1) throw unsupported(layer, `axis ${a} of [${x.shape}] is not 1`);
    }
    const shape = x.shape.filter((_, i) => !axes.has(i));
    return { shape: shape.length ? shape : [1], data: x.data };
  };
};

/** Inserts axes of size 1 at the listed positions of the output. */
const expandDims: LayerCompiler = (layer) => {
  const requested = paramsOf(layer, "expandDims").axes.map(num);
  return ([x]) => {
    const rank = x.shape.length + requested.length;
    const axes = new Set(requested.map((a) => normalizeAxis(a, rank)));
    const shape: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.has(i) ? 1 : x.shape[k++]);
    return { shape, data: x.data };
  };
};

/** [prod(shape[:axis]), prod(shape[axis:])], a negative axis counted from the end. */
const flattenTo2D: LayerCompiler = (layer) => {
  const axis = num(paramsOf(layer, "flattenTo2D").axis);
  return ([x]) => {
    const at = axis < 0 ? axis + x.shape.length : axis;
    if (at < 0 || at > x.shape.length) throw unsupported(layer, `axis ${axis} of [${x.shape}]`);
    return {
      shape: [elementCount(x.shape.slice(0, at)), elementCount(x.shape.slice(at))],
      data: x.data,
    };
  };
};

/** x repeated to `shape` by numpy broadcasting. */
function broadcastTo(layer: NeuralNetworkLayer, x: Dense, shape: readonly number[]): Dense {
  let target: number[];
  try {
    target = broadcastShapes(x.shape, shape);
  } catch {
    throw unsupported(layer, `[${x.shape}] does not broadcast to [${shape}]`);
  }
  return mapBinary(x, { shape: target, data: new Float32Array(elementCount(target)) }, (a) => a);
}

/** Tiles x by `reps`, ones prepended to reach x's rank. */
function tiled(layer: NeuralNetworkLayer, x: Dense, reps: number[]): Dense {
  if (reps.length > x.shape.length) throw unsupported(layer, `reps [${reps}] for [${x.shape}]`);
  return tile(x, [...new Array<number>(x.shape.length - reps.length).fill(1), ...reps]);
}

export const SHAPE_LAYERS = {
  reshape,
  flatten,
  permute,
  transpose: transposeLayer,
  squeeze,
  expandDims,
  flattenTo2D,
  reshapeStatic: (layer) => {
    const target = paramsOf(layer, "reshapeStatic").targetShape.map(num);
    return ([x]) => reshaped(layer, x, target);
  },
  rankPreservingReshape: (layer) => {
    const target = paramsOf(layer, "rankPreservingReshape").targetShape.map(num);
    return ([x]) => {
      if (target.length !== x.shape.length) throw unsupported(layer, `rank ${x.shape.length}`);
      return reshaped(layer, x, target);
    };
  },
  reshapeDynamic:
    (layer) =>
    ([x, shape]) =>
      reshaped(layer, x, intsOf(shape)),
  reshapeLike:
    (layer) =>
    ([x, like]) =>
      reshaped(layer, x, like.shape),
  getShape:
    () =>
    ([x]) => ({ shape: [x.shape.length], data: Float32Array.from(x.shape) }),
  broadcastToStatic: (layer) => {
    const shape = paramsOf(layer, "broadcastToStatic").targetShape.map(num);
    return ([x]) => broadcastTo(layer, x, shape);
  },
  broadcastToDynamic:
    (layer) =>
    ([x, shape]) =>
      broadcastTo(layer, x, intsOf(shape)),
  broadcastToLike:
    (layer) =>
    ([x, like]) =>
      broadcastTo(layer, x, like.shape),
  tile: (layer) => {
    const reps = paramsOf(layer, "tile").reps.map(num);
    return ([x, dynamic]) => tiled(layer, x, dynamic ? intsOf(dynamic) : reps);
  },
  /** Repeats the whole sequence (axis −5) nRepetitions times. */
  sequenceRepeat: (layer) => {
    const times = Math.max(1, num(paramsOf(layer, "sequenceRepeat").nRepetitions));
    return ([x]) => {
      if (x.shape.length < 5) throw unsupported(layer, `a rank ${x.shape.length} blob`);
      return concat(new Array<Dense>(times).fill(x), x.shape.length - 5);
    };
  },
} satisfies Record<string, LayerCompiler>;
