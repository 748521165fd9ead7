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
 *
 * Where a weight has one table, each candidate's table is also refitted to that error: with
 * the assignment fixed, the entries c minimizing Σ_rows (w_r − c[a_r])·H·(w_r − c[a_r])ᵀ solve
 * a linear system of 2^nbits unknowns (A c = b, A_kl = Σ_r Σ_{a_ri = k, a_rj = l} H_ij,
 * b_k = Σ_r Σ_{a_ri = k} (H w_r)_i); the weights then take their nearest refitted entries, and
 * the refit is a further candidate.
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
const ERROR_BUDGET = 1 << 25;

/** The rows the error estimate and the refit sum over: every `step`-th (see ERROR_BUDGET). */
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

/**
 * The table of `entries` values that, for the given indices (one table for the whole weight,
 * indices in its element order), minimizes the layer-output error; entries no weight uses keep
 * `table`'s values. Undefined without a Gram matrix.
 */
export function refitTable(
  shape: readonly number[],
  original: ArrayLike<number>,
  indices: ArrayLike<number>,
  table: ArrayLike<number>,
  statistics: InputStatistics,
): Float64Array | undefined {
  const { gram, columns, groups } = statistics;
  const view = matrixView(shape, statistics.inputAxes);
  if (!gram || !view || view.columns !== columns || view.rows % groups !== 0) return undefined;
  const k = table.length;
  const a = new Float64Array(k * k);
  const b = new Float64Array(k);
  const rowsPerGroup = view.rows / groups;
  const index = new Int32Array(columns);
  const w = new Float64Array(columns);
  for (let r = 0; r < view.rows; r += rowStep(view.rows, columns)) {
    for (let c = 0; c < columns; c++) {
      const offset = view.offset(r, c);
      index[c] = indices[offset];
      w[c] = original[offset];
    }
    const h = gram.subarray(Math.floor(r / rowsPerGroup) * columns * columns);
    for (let i = 0; i < columns; i++) {
      const row = i * columns;
      const ak = index[i] * k;
      let hw = 0;
      for (let j = 0; j < columns; j++) {
        a[ak + index[j]] += h[row + j];
        hw += h[row + j] * w[j];
      }
      b[index[i]] += hw;
    }
  }
  const used = [...Array(k).keys()].filter((e) => a[e * k + e] > 0);
  const solution = solveSymmetric(
    Float64Array.from(used.flatMap((i) => used.map((j) => a[i * k + j]))),
    Float64Array.from(used, (i) => b[i]),
  );
  if (!solution) return undefined;
  const out = Float64Array.from(table);
  used.forEach((e, i) => (out[e] = solution[i]));
  return out;
}

/**
 * Solves A x = b for a symmetric positive semi-definite A (n × n) by Cholesky, with a ridge of
 * 1e-9 of its mean diagonal for entries whose weights' inputs are (nearly) dependent.
 */
function solveSymmetric(a: Float64Array, b: Float64Array): Float64Array | undefined {
  const n = b.length;
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i];
  const ridge = (trace / Math.max(n, 1)) * 1e-9;
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j] + (i === j ? ridge : 0);
      for (let m = 0; m < j; m++) sum -= l[i * n + m] * l[j * n + m];
      if (i === j) {
        if (!(sum > 0)) return undefined;
        l[i * n + i] = Math.sqrt(sum);
      } else l[i * n + j] = sum / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let m = 0; m < i; m++) sum -= l[i * n + m] * y[m];
    y[i] = sum / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let m = i + 1; m < n; m++) sum -= l[m * n + i] * x[m];
    x[i] = sum / l[i * n + i];
  }
  return x;
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
    const refit = refitTable(shape, weights, indices, lut, statistics);
    const tables = refit ? [lut, Float32Array.from(refit)] : [lut];
    for (const table of tables) {
      const assigned = table === lut ? indices : nearestEntries(weights, table);
      const decoded = Float64Array.from(assigned, (index) => table[index]);
      const error = outputError(shape, weights, decoded, statistics) ?? 0;
      if (!best || error < best.error) best = { lut: table, indices: assigned, exponent, error };
    }
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
