/** Layers that multiply by weight matrices: inner products, batched matmul, embeddings. */
import { elementCount } from "../../kernels/dtype.js";
import type { NeuralNetworkLayer } from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import { linear, matmul } from "../../kernels/ops/matmul.js";
import { num, paramsOf, unsupported, weightValues, type LayerCompiler } from "./params.js";

/**
 * The inner product's view of a blob as rows of C_in values, and its output shape: rank 1–3
 * multiply the last axis; rank 4 [x1, C, H, W] and rank 5 [x1, x2, C, H, W] flatten C, H, W,
 * giving [..., C_out, 1, 1].
 */
function innerProductShape(x: Dense, outputs: number): number[] {
  const s = x.shape;
  if (s.length <= 3) return [...s.slice(0, -1), outputs];
  return [...s.slice(0, -3), outputs, 1, 1];
}

const innerProduct: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "innerProduct");
  const inputs = num(p.inputChannels);
  const outputs = num(p.outputChannels);
  const weight: Dense = {
    shape: [outputs, inputs],
    data: weightValues(layer, "weights", p.weights, outputs * inputs),
  };
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, outputs) : undefined;
  return ([x], run) => {
    const shape = innerProductShape(x, outputs);
    const rows = elementCount(shape.slice(0, x.shape.length <= 3 ? -1 : -3));
    if (rows * inputs !== x.data.length) {
      throw unsupported(
        layer,
        `innerProduct of a [${x.shape.join(",")}] blob (expects ${inputs} channels)`,
      );
    }
    const y = linear({ shape: [rows, inputs], data: x.data }, weight, bias, run.multiply);
    return { shape, data: y.data };
  };
};

/** Matrix products: two inputs (numpy broadcasting), or one input times the stored matrix. */
const batchedMatmul: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "batchedMatmul");
  const rows = num(p.weightMatrixFirstDimension);
  const cols = num(p.weightMatrixSecondDimension);
  // Stored [X1, X2] column by column: as [X2, X1] rows, the inner product's layout.
  const weight: Dense | undefined = p.weights
    ? { shape: [cols, rows], data: weightValues(layer, "weights", p.weights, rows * cols) }
    : undefined;
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, cols) : undefined;
  return ([a, b], run) => {
    if (b) {
      // Vectors become [1, D] (first) and [D, 1] (second); the result keeps rank ≥ 2.
      const left = a.shape.length === 1 ? { shape: [1, a.shape[0]], data: a.data } : a;
      const right = b.shape.length === 1 ? { shape: [b.shape[0], 1], data: b.data } : b;
      try {
        return matmul(left, right, p.transposeA, p.transposeB, run.multiply);
      } catch (error) {
        if (error instanceof RangeError) throw unsupported(layer, error.message);
        throw error;
      }
    }
    if (!weight) throw unsupported(layer, "one input and no weights");
    if (a.shape[a.shape.length - 1] !== rows) {
      throw unsupported(layer, `a [${a.shape}] blob times a [${rows},${cols}] matrix`);
    }
    return linear(a, weight, bias, run.multiply);
  };
};

/** Rows of the stored [size, vocabulary] table (its columns) for each index, plus the bias. */
function lookup(
  layer: NeuralNetworkLayer,
  indices: Float32Array,
  table: Float32Array,
  size: number,
  vocabulary: number,
  bias?: Float32Array,
): Float32Array {
  const out = new Float32Array(indices.length * size);
  indices.forEach((value, t) => {
    const index = Math.round(value);
    if (!(index >= 0 && index < vocabulary)) {
      throw unsupported(layer, `index ${value} outside 0..${vocabulary - 1}`);
    }
    for (let c = 0; c < size; c++) {
      out[t * size + c] = table[c * vocabulary + index] + (bias?.[c] ?? 0);
    }
  });
  return out;
}

/** Indices [..., 1, 1, 1] to vectors [..., C_out, 1, 1]. */
const embedding: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "embedding");
  const vocabulary = num(p.inputDim);
  const channels = num(p.outputChannels);
  const table = weightValues(layer, "weights", p.weights, channels * vocabulary);
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, channels) : undefined;
  return ([x]) => {
    const data = lookup(layer, x.data, table, channels, vocabulary, bias);
    const indexAxes = x.shape.slice(-3);
    if (x.shape.length >= 3 && indexAxes.every((d) => d === 1)) {
      return { shape: [...x.shape.slice(0, -3), channels, 1, 1], data };
    }
    // Other shapes (outside the specification): a vector per index.
    return { shape: x.data.length === 1 ? [channels] : [x.data.length, channels], data };
  };
};

/** Indices [..., 1] to vectors [..., embeddingSize]. */
const embeddingND: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "embeddingND");
  const vocabulary = num(p.vocabSize);
  const size = num(p.embeddingSize);
  const table = weightValues(layer, "weights", p.weights, size * vocabulary);
  const bias = p.hasBias ? weightValues(layer, "bias", p.bias, size) : undefined;
  return ([x]) => {
    const data = lookup(layer, x.data, table, size, vocabulary, bias);
    const lead = x.shape[x.shape.length - 1] === 1 ? x.shape.slice(0, -1) : x.shape;
    return { shape: [...lead, size], data };
  };
};

export const PRODUCT_LAYERS = {
  innerProduct,
  batchedMatmul,
  embedding,
  embeddingND,
} satisfies Record<string, LayerCompiler>;
