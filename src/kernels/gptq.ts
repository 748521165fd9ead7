/**
 * GPTQ (Frantar et al., 2022): quantizes a weight matrix column by column, each column's
 * rounding error spread over the columns not yet quantized through the inverse of the
 * Hessian H = XᵀX of the layer's inputs, so that the layer's outputs on those inputs (rather
 * than the weights themselves) stay close. The grid is the round-to-nearest one: blocks of rows
 * and columns, each with a scale and zero point by coremltools' formulas, so the result is
 * stored and decoded exactly like a round-to-nearest quantization.
 */
import { roundHalfEven } from "./rounding.js";
import { blockParameters, type LinearQuantizationMode } from "./linear-quantize.js";

export interface GptqGrid {
  mode: LinearQuantizationMode;
  signed: boolean;
  qMin: number;
  qMax: number;
  /** Rows sharing one scale (0: all of them). */
  rowBlock: number;
  /** Columns sharing one scale (0: all of them). */
  columnBlock: number;
  /** Rounding to the weight's precision, in which scales are computed and stored. */
  round: (value: number) => number;
}

export interface GptqOptions {
  /** Added to H's diagonal, as a fraction of its mean (GPTQ's percdamp; 0.01 is usual). */
  dampening: number;
  /**
   * Quantize columns in order of decreasing H diagonal (largest inputs first); the scales are
   * then computed from the original weights, as the columns of a block are no longer adjacent.
   */
  activationOrder: boolean;
}

export interface GptqResult {
  /** Quantized integers, rows × columns, row-major. */
  q: Int32Array;
  /** Per block (row blocks × column blocks, row-major): scale and zero point as stored. */
  scales: Float64Array;
  zeroPoints: Float64Array;
}

/** Columns quantized before their errors reach the later columns in one pass (GPTQ's lazy batch). */
const BATCH_COLUMNS = 128;
/** Dampening is multiplied by this until H + damping is positive definite. */
const DAMPENING_GROWTH = 10;
const DAMPENING_TRIES = 6;

/**
 * Quantizes `weight` (rows × columns, row-major, float64) whose columns multiply the inputs
 * whose Gram matrix is `hessian` (columns × columns).
 */
export function gptq(
  weight: Float64Array,
  rows: number,
  columns: number,
  hessian: Float64Array,
  grid: GptqGrid,
  options: GptqOptions,
): GptqResult {
  const rowBlock = grid.rowBlock || rows;
  const columnBlock = grid.columnBlock || columns;
  if (rows % rowBlock !== 0 || columns % columnBlock !== 0) {
    throw new RangeError(`blocks of ${rowBlock}×${columnBlock} do not tile ${rows}×${columns}`);
  }
  const columnBlocks = columns / columnBlock;
  const blocks = (rows / rowBlock) * columnBlocks;
  const scales = new Float64Array(blocks);
  const zeroPoints = new Float64Array(blocks);
  // Columns contiguous: every step reads or updates whole columns.
  const byColumn = new Float64Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) byColumn[c * rows + r] = weight[r * columns + c];
  }
  const order = columnOrder(hessian, columns, options.activationOrder);
  const upper = inverseFactor(hessian, columns, order, options.dampening);

  const setBlockParameters = (columnBlockIndex: number) => {
    const first = columnBlockIndex * columnBlock;
    for (let rb = 0; rb < rows / rowBlock; rb++) {
      let low = Infinity;
      let high = -Infinity;
      for (let c = first; c < first + columnBlock; c++) {
        const column = c * rows;
        for (let r = rb * rowBlock; r < (rb + 1) * rowBlock; r++) {
          const v = byColumn[column + r];
          if (v < low) low = v;
          if (v > high) high = v;
        }
      }
      const block = blockParameters(
        low,
        high,
        grid.mode,
        grid.signed,
        grid.qMin,
        grid.qMax,
        grid.round,
      );
      const b = rb * columnBlocks + columnBlockIndex;
      scales[b] = block.scale;
      zeroPoints[b] = Number.isNaN(block.zeroPoint) ? 0 : block.zeroPoint;
    }
  };
  // In column order a block's parameters come from its columns as updated by all the earlier
  // ones (batches hold whole blocks, so they are up to date); otherwise from the original ones.
  const lazy = !options.activationOrder;
  if (!lazy) for (let cb = 0; cb < columnBlocks; cb++) setBlockParameters(cb);
  const batch =
    lazy && grid.columnBlock > 0
      ? columnBlock * Math.max(1, Math.floor(BATCH_COLUMNS / columnBlock))
      : BATCH_COLUMNS;

  const q = new Int32Array(rows * columns);
  errorFeedback(byColumn, rows, columns, upper, order, batch, (c, values, reconstructed) => {
    if (lazy && c % columnBlock === 0) setBlockParameters(c / columnBlock);
    const blockColumn = Math.floor(c / columnBlock);
    for (let r = 0; r < rows; r++) {
      const b = Math.floor(r / rowBlock) * columnBlocks + blockColumn;
      const scale = scales[b];
      const zeroPoint = zeroPoints[b];
      let level = zeroPoint;
      if (scale !== 0) {
        level = roundHalfEven(values[r] / scale) + zeroPoint;
        level = level < grid.qMin ? grid.qMin : level > grid.qMax ? grid.qMax : level;
      }
      q[r * columns + c] = level;
      reconstructed[r] = (level - zeroPoint) * scale;
    }
  });
  return { q, scales, zeroPoints };
}

/**
 * Rounds column `column` of the matrix: `values` are its entries as updated so far (one per
 * row); `reconstructed` receives what each becomes.
 */
export type ColumnRounder = (
  column: number,
  values: Float64Array,
  reconstructed: Float64Array,
) => void;

/**
 * GPTQ with any rounding, e.g. to the nearest entry of a palettization table: the columns of
 * `weight` (rows × columns, row-major) are rounded in activation order or as they come, each
 * one's error spread over the later ones through the inverse Hessian.
 */
export function gptqRound(
  weight: Float64Array,
  rows: number,
  columns: number,
  hessian: Float64Array,
  options: GptqOptions,
  round: ColumnRounder,
): void {
  const byColumn = new Float64Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) byColumn[c * rows + r] = weight[r * columns + c];
  }
  const order = columnOrder(hessian, columns, options.activationOrder);
  const upper = inverseFactor(hessian, columns, order, options.dampening);
  errorFeedback(byColumn, rows, columns, upper, order, BATCH_COLUMNS, round);
}

/**
 * The loop both share: columns (of `byColumn`, column-major) in `order`, batches of `batch`
 * updated at once beyond the batch (GPTQ's lazy updates), errors scaled by U (inverseFactor).
 */
function errorFeedback(
  byColumn: Float64Array,
  rows: number,
  columns: number,
  upper: Float64Array,
  order: Int32Array,
  batch: number,
  round: ColumnRounder,
): void {
  const errors = new Float64Array(Math.min(batch, columns) * rows);
  const reconstructed = new Float64Array(rows);
  for (let start = 0; start < columns; start += batch) {
    const end = Math.min(start + batch, columns);
    for (let k = start; k < end; k++) {
      const c = order[k];
      const values = byColumn.subarray(c * rows, (c + 1) * rows);
      round(c, values, reconstructed);
      const error = errors.subarray((k - start) * rows, (k - start + 1) * rows);
      const diagonal = upper[k * columns + k];
      for (let r = 0; r < rows; r++) error[r] = (values[r] - reconstructed[r]) / diagonal;
      for (let j = k + 1; j < end; j++) {
        subtractScaled(byColumn, order[j] * rows, error, upper[k * columns + j]);
      }
    }
    for (let j = end; j < columns; j++) {
      const target = order[j] * rows;
      for (let k = start; k < end; k++) {
        const u = upper[k * columns + j];
        if (u === 0) continue;
        subtractScaled(
          byColumn,
          target,
          errors.subarray((k - start) * rows, (k - start + 1) * rows),
          u,
        );
      }
    }
  }
}

/** column[at..at+n) -= factor · error. */
function subtractScaled(
  values: Float64Array,
  at: number,
  error: Float64Array,
  factor: number,
): void {
  for (let r = 0; r < error.length; r++) values[at + r] -= factor * error[r];
}

/** The order columns are quantized in: as they come, or by decreasing H diagonal. */
function columnOrder(hessian: Float64Array, n: number, activationOrder: boolean): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (!activationOrder) return order;
  // Stable: equal diagonals keep their column order.
  return Int32Array.from(
    [...order].sort((a, b) => hessian[b * n + b] - hessian[a * n + a] || a - b),
  );
}

/**
 * The upper Cholesky factor U of (H + damping)⁻¹ (UᵀU = H⁻¹), rows and columns in `order`,
 * row-major. Inputs never seen (a zero diagonal) get a diagonal of 1: their columns take no
 * error and pass none on. Dampening grows until the factorization succeeds.
 *
 * With P the reversal of rows and columns, P H P = L Lᵀ gives H = R Rᵀ for the upper
 * triangular R = P L P, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ = P L⁻¹ P: one factorization and one
 * triangular inverse.
 */
export function inverseFactor(
  hessian: Float64Array,
  n: number,
  order: Int32Array,
  dampening: number,
): Float64Array {
  // Reversed and permuted: h[a][b] = H[order[n-1-a]][order[n-1-b]].
  const h = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const row = order[n - 1 - a] * n;
    for (let b = 0; b < n; b++) h[a * n + b] = hessian[row + order[n - 1 - b]];
  }
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (!(h[i * n + i] > 0)) {
      for (let j = 0; j < n; j++) h[i * n + j] = h[j * n + i] = 0;
      h[i * n + i] = 1;
    }
    mean += h[i * n + i] / n;
  }
  let damping = dampening * mean;
  for (let attempt = 0; attempt < DAMPENING_TRIES; attempt++) {
    const damped = h.slice();
    for (let i = 0; i < n; i++) damped[i * n + i] += damping;
    if (choleskyInPlace(damped, n)) {
      // t[j][i] = L⁻¹[i][j]; U[a][b] = L⁻¹[n-1-a][n-1-b] = t[n-1-b][n-1-a].
      const t = lowerInverseTransposed(damped, n);
      const u = new Float64Array(n * n);
      for (let a = 0; a < n; a++) {
        for (let b = a; b < n; b++) u[a * n + b] = t[(n - 1 - b) * n + (n - 1 - a)];
      }
      return u;
    }
    damping = Math.max(damping, mean * 1e-6) * DAMPENING_GROWTH;
  }
  throw new RangeError("the Hessian is not positive definite even with heavy dampening");
}

/** Lower Cholesky factor of a symmetric matrix, in place (upper triangle left as it was); false when not positive definite. */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let sum = a[rowJ + j];
    for (let k = 0; k < j; k++) sum -= a[rowJ + k] * a[rowJ + k];
    if (!(sum > 0)) return false;
    const pivot = Math.sqrt(sum);
    a[rowJ + j] = pivot;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let s = a[rowI + j];
      for (let k = 0; k < j; k++) s -= a[rowI + k] * a[rowJ + k];
      a[rowI + j] = s / pivot;
    }
  }
  return true;
}

/** x with L Lᵀ x = b, L the lower triangle of `l`. */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let j = 0; j < i; j++) s -= l[i * n + j] * y[j];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let j = i + 1; j < n; j++) s -= l[j * n + i] * x[j];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** The inverse of the lower triangular L (the lower triangle of `l`), transposed: row j holds column j of L⁻¹. */
function lowerInverseTransposed(l: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const row = j * n;
    t[row + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      const li = i * n;
      for (let k = j; k < i; k++) s += l[li + k] * t[row + k];
      t[row + i] = -s / l[li + i];
    }
  }
  return t;
}
