/**
 * Sensitive k-means chooses, per weight, how strongly the input energies weigh its elements.
 *
 * Weighting each element by its input's energy d_j = Σx_j² (the diagonal of H = XᵀX) is exact
 * for the layer's output error only when the inputs are uncorrelated; with correlated inputs,
 * or a few channels of outlying energy, the full weights d_j pull the table towards those
 * channels at the expense of the rest, and the outputs may come out worse than plain k-means'.
 * So the weights are damped to d_j^α, and where the Gram matrix is known each α of a few is
 * tried and the one whose tables give the least layer-output error tr(ΔW·H·ΔWᵀ) on the
 * calibration data kept. α = 0 is plain k-means, so on the calibration data the chosen tables
 * are never worse than plain k-means' by that measure.
 */
import { distinctWithWeights, kmeans1D } from "../kernels/palettize/kmeans1d.js";
import { nearestEntries } from "../kernels/neural-quantization.js";
import { elementImportance, matrixView, type InputStatistics } from "./calibration.js";

/** The exponents tried: plain k-means, half-damped, and fully energy-weighted. */
export const IMPORTANCE_EXPONENTS = [0, 0.5, 1] as const;

/** The exponent without a Gram matrix to choose by: the diagonal's own optimum. */
export const DEFAULT_IMPORTANCE_EXPONENT = 1;

/**
 * Rows × columns² multiply-adds the error estimate may spend per weight: beyond it, it sums
 * over evenly spaced rows only (the same rows for every exponent, so they compare fairly).
 */
const ERROR_BUDGET = 1 << 27;

/** The rows the error estimate sums over: every `step`-th (see ERROR_BUDGET). */
function rowStep(rows: number, columns: number): number {
  return Math.max(1, Math.ceil((rows * columns * columns) / ERROR_BUDGET));
}

/** Importance raised to `exponent` (0: none, i.e. plain k-means). */
export function dampedImportance(
  importance: Float64Array,
  exponent: number,
): Float64Array | undefined {
  if (exponent === 0) return undefined;
  return exponent === 1 ? importance : importance.map((v) => v ** exponent);
}

/**
 * The layer-output error Σ_rows Δ_r·H·Δ_rᵀ of replacing `original` by `approximation` (both in
 * the weight's element order), each row with its group's Gram matrix; undefined without one.
 */
export function outputError(
  shape: readonly number[],
  original: ArrayLike<number>,
  approximation: ArrayLike<number>,
  statistics: InputStatistics,
): number | undefined {
  const { gram, columns, groups } = statistics;
  const view = matrixView(shape, statistics.inputAxes);
  if (!gram || !view || view.columns !== columns || view.rows % groups !== 0) return undefined;
  const rowsPerGroup = view.rows / groups;
  const step = rowStep(view.rows, columns);
  const delta = new Float64Array(columns);
  let error = 0;
  for (let r = 0; r < view.rows; r += step) {
    for (let c = 0; c < columns; c++) {
      const offset = view.offset(r, c);
      delta[c] = original[offset] - approximation[offset];
    }
    const h = gram.subarray(Math.floor(r / rowsPerGroup) * columns * columns);
    for (let i = 0; i < columns; i++) {
      if (delta[i] === 0) continue;
      let sum = 0;
      const row = i * columns;
      for (let j = 0; j < columns; j++) sum += h[row + j] * delta[j];
      error += delta[i] * sum;
    }
  }
  return error;
}

/** One float32 table of 2^nbits entries for a whole weight, and each element's index. */
export interface SensitiveTable {
  lut: Float32Array;
  indices: Uint8Array;
  /** The exponent α whose tables were kept. */
  exponent: number;
}

/**
 * Sensitive k-means of a whole weight (row-major `shape`) into one float32 table, as the
 * neural-network `kmeans_lut` stores it; undefined when the statistics do not fit the weight.
 */
export function sensitiveTable(
  weights: Float64Array,
  shape: readonly number[],
  nbits: number,
  statistics: InputStatistics,
): SensitiveTable | undefined {
  const size = 2 ** nbits;
  const importance = elementImportance({ shape }, statistics);
  if (!importance) return undefined;
  if (statistics.activeEnergy?.length === weights.length) {
    return activeTable(weights, nbits, statistics.activeEnergy, importance);
  }
  const exponents = statistics.gram ? IMPORTANCE_EXPONENTS : [DEFAULT_IMPORTANCE_EXPONENT];
  let best: (SensitiveTable & { error: number }) | undefined;
  for (const exponent of exponents) {
    const damped =
      dampedImportance(importance, exponent) ?? new Float64Array(weights.length).fill(1);
    const distinct = distinctWithWeights(weights, damped);
    const { centroids } = kmeans1D(
      distinct.values,
      distinct.counts,
      Math.min(size, distinct.values.length),
    );
    const lut = new Float32Array(size);
    lut.set(centroids);
    const indices = nearestEntries(weights, lut);
    const decoded = Float64Array.from(indices, (index) => lut[index]);
    const error = outputError(shape, weights, decoded, statistics) ?? 0;
    if (!best || error < best.error) best = { lut, indices, exponent, error };
  }
  const { lut, indices, exponent } = best!;
  return { lut, indices, exponent };
}

/**
 * How much the input energy where a ReLU clips the output counts: errors there do not pass
 * the ReLU unless they are large enough to make the output positive, so they count a little.
 */
const INACTIVE_SHARE = 0.25;

/**
 * A layer feeding a ReLU: each weight weighed by its input's energy where its output is
 * positive, plus INACTIVE_SHARE of the energy where it is not.
 */
function activeTable(
  weights: Float64Array,
  nbits: number,
  energy: Float64Array,
  all: Float64Array,
): SensitiveTable {
  const importance = energy.map((e, i) => e + INACTIVE_SHARE * Math.max(all[i] - e, 0));
  const distinct = distinctWithWeights(weights, importance);
  const size = 2 ** nbits;
  const { centroids } = kmeans1D(
    distinct.values,
    distinct.counts,
    Math.min(size, distinct.values.length),
  );
  const lut = new Float32Array(size);
  lut.set(centroids);
  return { lut, indices: nearestEntries(weights, lut), exponent: 1 };
}
