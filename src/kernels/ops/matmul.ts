/** Matrix products on Float32Array: a cache-blocked GEMM and the batched/broadcast matmul. */
import { broadcastShapes, stridesOf } from "./shape.js";
import { elementCount } from "../dtype.js";
import type { Dense } from "./elementwise.js";

const BLOCK_N = 512;

/**
 * C[m×n] += A[m×k] · B[k×n], all row-major with the given offsets; A may be read transposed
 * (stored k×m) and B transposed (stored n×k).
 */
export function gemm(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  aOffset: number,
  transposeA: boolean,
  b: Float32Array,
  bOffset: number,
  transposeB: boolean,
  c: Float32Array,
  cOffset: number,
): void {
  if (transposeB) {
    // Rows of B^T are contiguous: dot products along k.
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        const bRow = bOffset + j * k;
        if (transposeA) {
          for (let p = 0; p < k; p++) sum += a[aOffset + p * m + i] * b[bRow + p];
        } else {
          const aRow = aOffset + i * k;
          for (let p = 0; p < k; p++) sum += a[aRow + p] * b[bRow + p];
        }
        c[cOffset + i * n + j] += sum;
      }
    }
    return;
  }
  // B row-major k×n: rows of C accumulate scaled rows of B, four rows of C at a time (each
  // B value loaded once for four products), over column blocks that stay in cache.
  const rowStride = transposeA ? 1 : k;
  const colStride = transposeA ? m : 1;
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const j1 = Math.min(n, j0 + BLOCK_N);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const c0 = cOffset + i * n;
      const c1 = c0 + n;
      const c2 = c1 + n;
      const c3 = c2 + n;
      const a0 = aOffset + i * rowStride;
      for (let p = 0; p < k; p++) {
        const ap = a0 + p * colStride;
        const x0 = a[ap];
        const x1 = a[ap + rowStride];
        const x2 = a[ap + 2 * rowStride];
        const x3 = a[ap + 3 * rowStride];
        const bRow = bOffset + p * n;
        for (let j = j0; j < j1; j++) {
          const bv = b[bRow + j];
          c[c0 + j] += x0 * bv;
          c[c1 + j] += x1 * bv;
          c[c2 + j] += x2 * bv;
          c[c3 + j] += x3 * bv;
        }
      }
    }
    for (; i < m; i++) {
      const cRow = cOffset + i * n;
      for (let p = 0; p < k; p++) {
        const av = a[aOffset + i * rowStride + p * colStride];
        const bRow = bOffset + p * n;
        for (let j = j0; j < j1; j++) c[cRow + j] += av * b[bRow + j];
      }
    }
  }
}

/** The GEMM signature, so callers can substitute a parallel implementation. */
export type Gemm = typeof gemm;

/** Transposes a rows×cols matrix. */
function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** y = x · Wᵀ + b over the last axis of x; W is [out, in]. */
export function linear(x: Dense, weight: Dense, bias?: Float32Array, multiply: Gemm = gemm): Dense {
  const [outFeatures, inFeatures] = weight.shape;
  const rows = x.data.length / inFeatures;
  const out = new Float32Array(rows * outFeatures);
  if (bias) for (let r = 0; r < rows; r++) out.set(bias, r * outFeatures);
  // Multiplying by a pre-transposed W turns the product into contiguous axpys (faster for many rows).
  if (rows >= 4) {
    multiply(
      rows,
      outFeatures,
      inFeatures,
      x.data,
      0,
      false,
      transpose2d(weight.data, outFeatures, inFeatures),
      0,
      false,
      out,
      0,
    );
  } else {
    multiply(rows, outFeatures, inFeatures, x.data, 0, false, weight.data, 0, true, out, 0);
  }
  return { shape: [...x.shape.slice(0, -1), outFeatures], data: out };
}

/**
 * The shapes of a numpy matmul with optional transposition of the last two axes: each product's
 * m × k × n, the broadcast batch, the output shape (vector operands' unit axes dropped), and
 * where each batch's operands start (in elements).
 */
export interface MatmulPlan {
  m: number;
  k: number;
  n: number;
  batches: number;
  shape: number[];
  xOffset(batch: number): number;
  yOffset(batch: number): number;
}

export function planMatmul(
  xShape: readonly number[],
  yShape: readonly number[],
  transposeX: boolean,
  transposeY: boolean,
): MatmulPlan {
  const vectorX = xShape.length === 1;
  const vectorY = yShape.length === 1;
  const xs = vectorX ? [1, xShape[0]] : [...xShape];
  const ys = vectorY ? [yShape[0], 1] : [...yShape];
  const [xr, xc] = xs.slice(-2);
  const [yr, yc] = ys.slice(-2);
  const m = transposeX ? xc : xr;
  const k = transposeX ? xr : xc;
  const k2 = transposeY ? yc : yr;
  const n = transposeY ? yr : yc;
  if (k !== k2) throw new RangeError(`matmul inner dimensions ${k} and ${k2} differ`);
  const xBatch = xs.slice(0, -2);
  const yBatch = ys.slice(0, -2);
  const batch = broadcastShapes(xBatch, yBatch);
  const batchStrides = stridesOf(batch);
  // Element offset of a batch in an operand whose batch axes broadcast against `batch`.
  const offsetIn = (own: number[], matrix: number) => {
    const strides = stridesOf(own);
    const skipped = batch.length - own.length;
    return (index: number) => {
      let at = 0;
      for (let d = skipped; d < batch.length; d++) {
        const size = own[d - skipped];
        if (size !== 1)
          at += (Math.floor(index / batchStrides[d]) % batch[d]) * strides[d - skipped];
      }
      return at * matrix;
    };
  };
  let shape = [...batch, m, n];
  if (vectorX) shape = [...batch, n];
  if (vectorY) shape = vectorX ? [...batch] : [...batch, m];
  return {
    m,
    k,
    n,
    batches: elementCount(batch),
    shape,
    xOffset: offsetIn(xBatch, xr * xc),
    yOffset: offsetIn(yBatch, yr * yc),
  };
}

/** numpy matmul with optional transposition of the last two axes of either operand. */
export function matmul(
  x: Dense,
  y: Dense,
  transposeX: boolean,
  transposeY: boolean,
  multiply: Gemm = gemm,
): Dense {
  const plan = planMatmul(x.shape, y.shape, transposeX, transposeY);
  const { m, k, n } = plan;
  const out = new Float32Array(plan.batches * m * n);
  for (let b = 0; b < plan.batches; b++) {
    multiply(
      m,
      n,
      k,
      x.data,
      plan.xOffset(b),
      transposeX,
      y.data,
      plan.yOffset(b),
      transposeY,
      out,
      b * m * n,
    );
  }
  return { shape: plan.shape, data: out };
}
