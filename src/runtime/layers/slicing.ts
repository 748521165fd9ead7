/**
 * Layers that cut blobs apart or put them together: slices, splits, concatenations, stacks,
 * gathers and scatters, reversals, windows, padding and masks.
 */
import type { NeuralNetworkLayer } from "../../format/gen/NeuralNetwork_pb.js";
import { ScatterMode } from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import {
  concat,
  gather,
  gatherAlongAxis,
  interleave,
  pad,
  stridedSlice,
} from "../../kernels/ops/movement.js";
import { reverseAxes } from "../../kernels/ops/lines.js";
import {
  gatherND,
  scatter,
  scatterAlongAxis,
  scatterND,
  type ScatterMode as Mode,
} from "../../kernels/ops/scatter.js";
import { resolveSlice, stridesOf } from "../../kernels/ops/shape.js";
import {
  axisOf,
  indicesOf,
  intsOf,
  num,
  paramsOf,
  unsupported,
  type LayerCompiler,
  type LayerFunction,
} from "./params.js";

/** The part of x from `start`, `size` long, along one axis. */
function sliceAxis(x: Dense, axis: number, start: number, size: number, step = 1): Dense {
  const begin = x.shape.map((_, i) => (i === axis ? start : 0));
  const sizes = x.shape.map((d, i) => (i === axis ? size : d));
  const steps = x.shape.map((_, i) => (i === axis ? step : 1));
  return stridedSlice(x, begin, sizes, steps);
}

/** Consecutive parts of x along `axis` of the given sizes. */
function splitSizes(x: Dense, axis: number, sizes: readonly number[]): Dense[] {
  let start = 0;
  return sizes.map((size) => {
    const part = sliceAxis(x, axis, start, size);
    start += size;
    return part;
  });
}

interface SliceSpec {
  begin: number[];
  end: number[];
  strides: number[];
  beginMasks: boolean[];
  endMasks: boolean[];
  squeezeMasks: boolean[];
}

/** TensorFlow's strided slice: masked bounds are open, squeezed axes take one index and go. */
function stridedSliceSpec(layer: NeuralNetworkLayer, x: Dense, spec: SliceSpec): Dense {
  const rank = x.shape.length;
  const starts: number[] = [];
  const sizes: number[] = [];
  const steps: number[] = [];
  for (let i = 0; i < rank; i++) {
    const step = spec.strides[i] ?? 1;
    if (step === 0) throw unsupported(layer, "stride 0");
    if (spec.squeezeMasks[i]) {
      const at = spec.begin[i] < 0 ? spec.begin[i] + x.shape[i] : spec.begin[i];
      if (!(at >= 0 && at < x.shape[i]))
        throw unsupported(layer, `index ${spec.begin[i]} of axis ${i}`);
      starts.push(at);
      sizes.push(1);
      steps.push(1);
      continue;
    }
    const [start, count] = resolveSlice(
      x.shape[i],
      spec.beginMasks[i] ? null : (spec.begin[i] ?? 0),
      spec.endMasks[i] || spec.end[i] === undefined ? null : spec.end[i],
      step,
    );
    starts.push(start);
    sizes.push(count);
    steps.push(step);
  }
  const result = stridedSlice(x, starts, sizes, steps);
  const kept = sizes.filter((_, i) => !spec.squeezeMasks[i]);
  return { shape: kept.length ? kept : [1], data: result.data };
}

const SCATTER_MODES: Record<number, Mode> = {
  [ScatterMode.SCATTER_UPDATE]: "update",
  [ScatterMode.SCATTER_ADD]: "add",
  [ScatterMode.SCATTER_SUB]: "sub",
  [ScatterMode.SCATTER_MUL]: "mul",
  [ScatterMode.SCATTER_DIV]: "div",
  [ScatterMode.SCATTER_MAX]: "max",
  [ScatterMode.SCATTER_MIN]: "min",
};

function scatterMode(layer: NeuralNetworkLayer, mode: number): Mode {
  const m = SCATTER_MODES[mode];
  if (!m) throw unsupported(layer, `scatter mode ${mode}`);
  return m;
}

/** Runs a kernel, turning its RangeError (bad indices or shapes) into an error naming the layer. */
function checked(layer: NeuralNetworkLayer, run: LayerFunction): LayerFunction {
  return (inputs, ctx) => {
    try {
      return run(inputs, ctx);
    } catch (error) {
      if (error instanceof RangeError) throw unsupported(layer, error.message);
      throw error;
    }
  };
}

export const SLICING_LAYERS = {
  /** The rank-5 slice along C, H or W (axes −3, −2, −1), end exclusive, stride positive. */
  slice: (layer) => {
    const p = paramsOf(layer, "slice");
    const stride = Math.max(1, num(p.stride));
    return ([x]) => {
      const axis = axisOf(layer, p.axis - 3, x.shape.length);
      const n = x.shape[axis];
      const at = (i: number) => Math.min(n, Math.max(0, i < 0 ? n + i : i));
      const start = at(num(p.startIndex));
      const end = at(num(p.endIndex));
      return sliceAxis(x, axis, start, Math.max(0, Math.ceil((end - start) / stride)), stride);
    };
  },
  sliceStatic: (layer) => {
    const p = paramsOf(layer, "sliceStatic");
    const spec: SliceSpec = {
      begin: p.beginIds.map(num),
      end: p.endIds.map(num),
      strides: p.strides.map(num),
      beginMasks: p.beginMasks,
      endMasks: p.endMasks,
      squeezeMasks: p.squeezeMasks,
    };
    return ([x]) => stridedSliceSpec(layer, x, spec);
  },
  /** Inputs: x, begin, then (each optional, else the parameter) end, strides and masks. */
  sliceDynamic: (layer) => {
    const p = paramsOf(layer, "sliceDynamic");
    return ([x, begin, end, strides, beginMasks, endMasks, squeezeMasks]) => {
      const flags = (blob: Dense | undefined, fallback: boolean[]) =>
        blob ? Array.from(blob.data, (v) => v !== 0) : fallback;
      return stridedSliceSpec(layer, x, {
        begin: intsOf(begin),
        end: end ? intsOf(end) : p.endIds.map(num),
        strides: strides ? intsOf(strides) : p.strides.map(num),
        beginMasks: flags(beginMasks, p.beginMasks),
        endMasks: flags(endMasks, p.endMasks),
        squeezeMasks: flags(squeezeMasks, p.squeezeMasks),
      });
    };
  },
  sliceBySize: (layer) => {
    const p = paramsOf(layer, "sliceBySize");
    return ([x, begin]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      const n = x.shape[axis];
      const start = intsOf(begin)[0] < 0 ? intsOf(begin)[0] + n : intsOf(begin)[0];
      const size = num(p.size) < 0 ? n - start : num(p.size);
      if (start < 0 || start + size > n) throw unsupported(layer, `slice outside axis ${axis}`);
      return sliceAxis(x, axis, start, size);
    };
  },
  /** Equal parts along the channel axis (−3). */
  split: (layer) => {
    const parts = Math.max(1, num(paramsOf(layer, "split").nOutputs) || layer.output.length);
    return ([x]) => {
      const axis = axisOf(layer, -3, x.shape.length);
      const size = x.shape[axis] / parts;
      if (!Number.isInteger(size)) throw unsupported(layer, `${x.shape[axis]} in ${parts} parts`);
      return splitSizes(x, axis, new Array<number>(parts).fill(size));
    };
  },
  splitND: (layer) => {
    const p = paramsOf(layer, "splitND");
    const given = p.splitSizes.map(num);
    const parts = given.length || num(p.numSplits) || layer.output.length;
    return ([x]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      const n = x.shape[axis];
      const sizes = given.length ? given : new Array<number>(parts).fill(n / parts);
      if (sizes.reduce((a, b) => a + b, 0) !== n || !sizes.every(Number.isInteger)) {
        throw unsupported(layer, `axis ${axis} of size ${n} into [${sizes}]`);
      }
      return splitSizes(x, axis, sizes);
    };
  },
  /** Along the channel axis (−3), or the sequence axis (−5). */
  concat: (layer) => {
    const axis = paramsOf(layer, "concat").sequenceConcat ? -5 : -3;
    return (xs) => concat(xs, axisOf(layer, axis, xs[0].shape.length));
  },
  concatND: (layer) => {
    const p = paramsOf(layer, "concatND");
    return (xs) => {
      const axis = axisOf(layer, num(p.axis), xs[0].shape.length);
      return p.interleave ? interleave(xs, axis) : concat(xs, axis);
    };
  },
  stack: (layer) => {
    const given = num(paramsOf(layer, "stack").axis);
    return (xs) => {
      const axis = axisOf(layer, given, xs[0].shape.length + 1);
      const expanded = xs.map((x) => ({
        shape: [...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)],
        data: x.data,
      }));
      return concat(expanded, axis);
    };
  },
  gather: (layer) => {
    const given = num(paramsOf(layer, "gather").axis);
    return checked(layer, ([x, indices]) =>
      gather(x, indicesOf(indices), axisOf(layer, given, x.shape.length), 0),
    );
  },
  gatherAlongAxis: (layer) => {
    const given = num(paramsOf(layer, "gatherAlongAxis").axis);
    return checked(layer, ([x, indices]) =>
      gatherAlongAxis(x, indicesOf(indices), axisOf(layer, given, x.shape.length)),
    );
  },
  gatherND: (layer) => checked(layer, ([x, indices]) => gatherND(x, indicesOf(indices))),
  scatter: (layer) => {
    const p = paramsOf(layer, "scatter");
    const mode = scatterMode(layer, p.mode);
    return checked(layer, ([container, indices, updates]) =>
      scatter(
        container,
        indicesOf(indices),
        updates,
        axisOf(layer, num(p.axis), container.shape.length),
        mode,
      ),
    );
  },
  scatterAlongAxis: (layer) => {
    const p = paramsOf(layer, "scatterAlongAxis");
    const mode = scatterMode(layer, p.mode);
    return checked(layer, ([container, indices, updates]) =>
      scatterAlongAxis(
        container,
        indicesOf(indices),
        updates,
        axisOf(layer, num(p.axis), container.shape.length),
        mode,
      ),
    );
  },
  scatterND: (layer) => {
    const mode = scatterMode(layer, paramsOf(layer, "scatterND").mode);
    return checked(layer, ([container, indices, updates]) =>
      scatterND(container, indicesOf(indices), updates, mode),
    );
  },
  reverse: (layer) => {
    const flags = paramsOf(layer, "reverse").reverseDim;
    return ([x]) => {
      if (flags.length !== x.shape.length) throw unsupported(layer, `rank ${x.shape.length}`);
      return reverseAxes(
        x,
        flags.flatMap((f, i) => (f ? [i] : [])),
      );
    };
  },
  /** Reverses the first lengths[b] entries along the sequence axis of each batch item b. */
  reverseSeq: (layer) => {
    const p = paramsOf(layer, "reverseSeq");
    return ([x, lengths]) => {
      const rank = x.shape.length;
      const batchAxis = axisOf(layer, num(p.batchAxis), rank);
      const seqAxis = axisOf(layer, num(p.sequenceAxis), rank);
      const strides = stridesOf(x.shape);
      const out = new Float32Array(x.data.length);
      for (let i = 0; i < out.length; i++) {
        const b = Math.floor(i / strides[batchAxis]) % x.shape[batchAxis];
        const t = Math.floor(i / strides[seqAxis]) % x.shape[seqAxis];
        const length = Math.min(x.shape[seqAxis], Math.trunc(lengths.data[b]));
        const source = t < length ? length - 1 - t : t;
        out[i] = x.data[i + (source - t) * strides[seqAxis]];
      }
      return { shape: x.shape, data: out };
    };
  },
  /** Every window of windowSize along the axis, step apart: a new axis after it. */
  slidingWindows: (layer) => {
    const p = paramsOf(layer, "slidingWindows");
    const size = num(p.windowSize);
    const step = Math.max(1, num(p.step));
    return ([x]) => {
      const axis = axisOf(layer, num(p.axis), x.shape.length);
      const windows = Math.floor((x.shape[axis] - size) / step) + 1;
      if (windows < 1) throw unsupported(layer, `windows of ${size} along axis ${axis}`);
      const parts = Array.from({ length: windows }, (_, k) => {
        const part = sliceAxis(x, axis, k * step, size);
        return {
          shape: [...x.shape.slice(0, axis), 1, ...part.shape.slice(axis)],
          data: part.data,
        };
      });
      return concat(parts, axis);
    };
  },
  constantPad: (layer) => {
    const p = paramsOf(layer, "constantPad");
    return ([x, dynamic]) => {
      const amounts = dynamic ? intsOf(dynamic) : p.padAmounts.map(num);
      if (amounts.length !== 2 * x.shape.length) {
        throw unsupported(layer, `${amounts.length} pad amounts for rank ${x.shape.length}`);
      }
      const pads = x.shape.map((d, i): [number, number] => {
        const [before, after] = [amounts[2 * i], amounts[2 * i + 1]];
        if (!p.padToGivenOutputSizeMode) return [before, after];
        // The amounts are the output size: pad the side that names it up to that size.
        const grow = Math.max(0, Math.max(before, after) - d);
        return before > 0 ? [grow, 0] : [0, grow];
      });
      return pad(x, pads, "constant", p.value);
    };
  },
  /** The multi-index of every non-zero value, [count, rank]. */
  whereNonZero:
    () =>
    ([x]) => {
      const strides = stridesOf(x.shape);
      const rows: number[] = [];
      x.data.forEach((v, i) => {
        if (v !== 0)
          for (let d = 0; d < x.shape.length; d++)
            rows.push(Math.floor(i / strides[d]) % x.shape[d]);
      });
      return {
        shape: [rows.length / Math.max(1, x.shape.length), x.shape.length],
        data: Float32Array.from(rows),
      };
    },
  matrixBandPart: (layer) => {
    const p = paramsOf(layer, "matrixBandPart");
    const [lower, upper] = [num(p.numLower), num(p.numUpper)];
    return ([x]) =>
      triangle(x, (m, n) => (lower < 0 || m - n <= lower) && (upper < 0 || n - m <= upper));
  },
  /** Keeps entries on or below diagonal k. */
  lowerTriangular: (layer) => {
    const k = num(paramsOf(layer, "lowerTriangular").k);
    return ([x]) => triangle(x, (m, n) => n - m <= k);
  },
  /** Keeps entries on or above diagonal k. */
  upperTriangular: (layer) => {
    const k = num(paramsOf(layer, "upperTriangular").k);
    return ([x]) => triangle(x, (m, n) => n - m >= k);
  },
} satisfies Record<string, LayerCompiler>;

/** x with the entries (row m, column n of the last two axes) that `keep` refuses set to 0. */
function triangle(x: Dense, keep: (m: number, n: number) => boolean): Dense {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2] ?? 1;
  const cols = x.shape[rank - 1];
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = keep(Math.floor(i / cols) % rows, i % cols) ? x.data[i] : 0;
  }
  return { shape: x.shape, data: out };
}
