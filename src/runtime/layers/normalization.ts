/** Normalization layers: batchnorm, mean-variance, L2, local response and layer normalization. */
import { elementCount } from "../../kernels/dtype.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import { normalize } from "../../kernels/ops/reduce.js";
import {
  channelView,
  num,
  paramsOf,
  unsupported,
  weightValues,
  type LayerCompiler,
} from "./params.js";

/** Index of a channel's LRN window's first and last channel. */
function channelWindow(c: number, size: number, channels: number): [number, number] {
  const before = Math.floor((size - 1) / 2);
  return [Math.max(0, c - before), Math.min(channels - 1, c + size - 1 - before)];
}

/** Mean and variance of `values` read at `count` offsets from `base` with a fixed stride. */
function moments(values: Float32Array, starts: number[], length: number): [number, number] {
  let sum = 0;
  for (const s of starts) for (let i = 0; i < length; i++) sum += values[s + i];
  const count = starts.length * length;
  const mean = sum / count;
  let squares = 0;
  for (const s of starts) for (let i = 0; i < length; i++) squares += (values[s + i] - mean) ** 2;
  return [mean, squares / count];
}

const batchnorm: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "batchnorm");
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
    const [n, c, h, w] = channelView(x);
    if (channels !== undefined && c !== channels) {
      throw unsupported(layer, `a [${x.shape.join(",")}] blob for ${channels} channels`);
    }
    const plane = h * w;
    const out = new Float32Array(x.data.length);
    // Statistics computed per channel over the batch and the plane, or (instance
    // normalization) per item of the batch.
    const groups = p.instanceNormalization ? n : 1;
    for (let ch = 0; ch < c; ch++) {
      for (let g = 0; g < groups; g++) {
        const items = Array.from({ length: n / groups }, (_, k) => g * (n / groups) + k);
        const starts = items.map((b) => (b * c + ch) * plane);
        const [mean, variance] = stored
          ? [stored.mean[ch], stored.variance[ch]]
          : moments(x.data, starts, plane);
        const scale = gamma[ch] / Math.sqrt(variance + epsilon);
        for (const s of starts) {
          for (let i = 0; i < plane; i++) out[s + i] = (x.data[s + i] - mean) * scale + beta[ch];
        }
      }
    }
    return { shape: x.shape, data: out };
  };
};

/** x less its mean (and divided by its deviation) within each of `groups` equal runs. */
function normalizeRuns(x: Dense, groups: number, epsilon: number, variance: boolean): Dense {
  const size = x.data.length / groups;
  const out = new Float32Array(x.data.length);
  for (let g = 0; g < groups; g++) {
    const [mean, spread] = moments(x.data, [g * size], size);
    const divisor = variance ? Math.sqrt(spread + epsilon) : 1;
    for (let i = g * size; i < (g + 1) * size; i++) out[i] = (x.data[i] - mean) / divisor;
  }
  return { shape: x.shape, data: out };
}

const mvn: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "mvn");
  return ([x]) => {
    const [n, c] = channelView(x);
    return normalizeRuns(x, p.acrossChannels ? n : n * c, p.epsilon, p.normalizeVariance);
  };
};

/** Each item of the batch divided by the L2 norm of its [C, H, W] values. */
const l2normalize: LayerCompiler = (layer) => {
  const epsilon = paramsOf(layer, "l2normalize").epsilon;
  return ([x]) => {
    const [n] = channelView(x);
    const size = x.data.length / n;
    const out = new Float32Array(x.data.length);
    for (let b = 0; b < n; b++) {
      const values = x.data.subarray(b * size, (b + 1) * size);
      const norm = Math.sqrt(values.reduce((a, v) => a + v * v, 0) + epsilon);
      for (let i = 0; i < size; i++) out[b * size + i] = values[i] / norm;
    }
    return { shape: x.shape, data: out };
  };
};

const lrn: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "lrn");
  const size = Math.max(1, num(p.localSize));
  const k = p.k === 0 ? 1 : p.k;
  return ([x]) => {
    const [n, c, h, w] = channelView(x);
    const plane = h * w;
    const out = new Float32Array(x.data.length);
    for (let b = 0; b < n; b++) {
      const base = b * c * plane;
      for (let ch = 0; ch < c; ch++) {
        const [from, to] = channelWindow(ch, size, c);
        for (let i = 0; i < plane; i++) {
          let squares = 0;
          for (let j = from; j <= to; j++) squares += x.data[base + j * plane + i] ** 2;
          const at = base + ch * plane + i;
          out[at] = x.data[at] / (k + (p.alpha / size) * squares) ** p.beta;
        }
      }
    }
    return { shape: x.shape, data: out };
  };
};

/** (x − mean) / √(variance + eps) over the last axes (normalizedShape), scaled and shifted. */
const layerNormalization: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "layerNormalization");
  const shape = p.normalizedShape.map(num);
  const size = elementCount(shape);
  const gamma = weightValues(layer, "gamma", p.gamma, size);
  const beta = weightValues(layer, "beta", p.beta, size);
  return ([x]) => {
    const rank = x.shape.length;
    if (shape.some((d, i) => x.shape[rank - shape.length + i] !== d)) {
      throw unsupported(layer, `a [${x.shape.join(",")}] blob, normalized over [${shape}]`);
    }
    const axes = shape.map((_, i) => rank - shape.length + i);
    return normalize(
      x,
      axes,
      p.eps,
      (i) => gamma[i % size],
      (i) => beta[i % size],
    );
  };
};

export const NORMALIZATION_LAYERS = {
  batchnorm,
  mvn,
  l2normalize,
  lrn,
  layerNormalization,
} satisfies Record<string, LayerCompiler>;
