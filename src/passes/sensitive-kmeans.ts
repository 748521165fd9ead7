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
 * With error feedback ("gptq-kmeans"), each candidate table is then refined by GPTQ onto it
 * (kernels/gptq-table.ts): indices chosen column by column, each column's rounding error
 * spread over the later ones through the inverse Gram matrix, and the table refitted to them
 * by least squares; the candidates are then chosen between as before.
 */
import { compensatedWeights } from "../kernels/compensate.js";
import { gptqTable, type TableGptqOptions } from "../kernels/gptq-table.js";
import { distinctWithWeights, kmeans1D } from "../kernels/palettize/kmeans1d.js";
import { nearestEntries } from "../kernels/neural-quantization.js";
import {
  elementImportance,
  matrixView,
  type InputStatistics,
  type MatrixView,
} from "./calibration.js";

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
 * the weight's element order), each row with its group's Gram matrix, each element's error
 * times its `scale` if given; undefined without a Gram matrix.
 */
export function outputError(
  shape: readonly number[],
  original: ArrayLike<number>,
  approximation: ArrayLike<number>,
  statistics: InputStatistics,
  scale?: Float64Array,
): number | undefined {
  const view = gramView(shape, statistics);
  if (!view) return undefined;
  const { gram, columns, groups } = statistics;
  const rowsPerGroup = view.rows / groups;
  const step = rowStep(view.rows, columns);
  const delta = new Float64Array(columns);
  let error = 0;
  for (let r = 0; r < view.rows; r += step) {
    for (let c = 0; c < columns; c++) {
      const offset = view.offset(r, c);
      delta[c] = (original[offset] - approximation[offset]) * (scale ? scale[offset] : 1);
    }
    const h = gram!.subarray(Math.floor(r / rowsPerGroup) * columns * columns);
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
  /** Weighed by the input energy where a ReLU after the layer passes its output (see below). */
  reluActive?: boolean;
}

/** A weighted 1-D k-means table of `weights` (plain k-means without `importance`). */
function weightedTable(
  weights: Float64Array,
  nbits: number,
  importance: Float64Array | undefined,
): { lut: Float32Array; indices: Uint8Array } {
  const size = 2 ** nbits;
  const distinct = distinctWithWeights(
    weights,
    importance ?? new Float64Array(weights.length).fill(1),
  );
  const { centroids } = kmeans1D(
    distinct.values,
    distinct.counts,
    Math.min(size, distinct.values.length),
  );
  const lut = new Float32Array(size);
  lut.set(centroids);
  return { lut, indices: nearestEntries(weights, lut) };
}

/**
 * The candidate tables of a whole weight (row-major `shape`), one float32 table each as the
 * neural-network `kmeans_lut` stores it: with the Gram matrix, one per exponent of
 * IMPORTANCE_EXPONENTS and, for a layer feeding a ReLU, the ReLU-active weighting; without
 * it, the ReLU-active weighting or else the default exponent's alone; with `errorFeedback`,
 * each refined by withErrorFeedback. Empty when the statistics do not fit the weight.
 */
export function candidateTables(
  weights: Float64Array,
  shape: readonly number[],
  nbits: number,
  statistics: InputStatistics,
  errorFeedback = false,
): SensitiveTable[] {
  return tablesFor(
    fittingTarget(weights, shape, statistics),
    shape,
    nbits,
    statistics,
    errorFeedback,
  );
}

function tablesFor(
  target: Float64Array,
  shape: readonly number[],
  nbits: number,
  statistics: InputStatistics,
  errorFeedback: boolean,
): SensitiveTable[] {
  const tables = weightedTables(target, shape, nbits, statistics);
  return errorFeedback
    ? tables.map((t) => withErrorFeedback(target, shape, t, statistics))
    : tables;
}

/**
 * How much the correction for the earlier layers' errors is dampened (see compensate.ts), in
 * H's mean diagonal. On SqueezeNet's 4.5- and 3-bit recipes (6 calibration photos), 1 gave
 * the least mean KL at both; 0.1 fitted the photos' own errors (4.5 bits: 5.6 dB held out).
 */
const COMPENSATION_DAMPENING = 1;

/**
 * What the tables approximate: the weights, or, with statistics gathered through quantized
 * layers beside the float model's (`crossGram`), the weights that best give the float model's
 * output from those inputs.
 */
export function fittingTarget(
  weights: Float64Array,
  shape: readonly number[],
  statistics: InputStatistics,
): Float64Array {
  const { gram, crossGram, columns, groups } = statistics;
  const view = gramView(shape, statistics);
  if (!view || !gram || !crossGram) return weights;
  const matrix = rowsOf(weights, view);
  const compensated = compensatedWeights(
    matrix,
    view.rows,
    columns,
    gram,
    crossGram,
    groups,
    COMPENSATION_DAMPENING,
  );
  return scatterRows(compensated, view, new Float64Array(weights.length));
}

/** The weight's matrix view, when the statistics' Gram matrices fit it. */
function gramView(shape: readonly number[], statistics: InputStatistics): MatrixView | undefined {
  const view = matrixView(shape, statistics.inputAxes);
  const fits = view?.columns === statistics.columns && view.rows % statistics.groups === 0;
  return statistics.gram && fits ? view : undefined;
}

/** `values` (in the weight's element order) as the view's rows × columns, row-major. */
function rowsOf(values: ArrayLike<number>, view: MatrixView): Float64Array {
  const matrix = new Float64Array(view.rows * view.columns);
  for (let r = 0; r < view.rows; r++) {
    for (let c = 0; c < view.columns; c++) {
      matrix[r * view.columns + c] = values[view.offset(r, c)];
    }
  }
  return matrix;
}

/** Writes rows × columns `matrix` into `out` in the weight's element order; returns `out`. */
function scatterRows<T extends Float64Array | Uint8Array>(
  matrix: ArrayLike<number>,
  view: MatrixView,
  out: T,
): T {
  for (let r = 0; r < view.rows; r++) {
    for (let c = 0; c < view.columns; c++) {
      out[view.offset(r, c)] = matrix[r * view.columns + c];
    }
  }
  return out;
}

/**
 * GPTQ onto the table in column order (activation order fitted SqueezeNet's last layer on six
 * photos much better and the photos held out worse), the table refitted once. Dampened ten
 * times more than GPTQ's usual 0.01: the damping's ‖ΔW‖² keeps the weights robust to inputs
 * unlike the calibration ones, such as those earlier quantized layers pass on (on SqueezeNet,
 * 5-bit tables with conv10 at 4 bits: 13.6 dB against 10.5 dB at 0.01, 13.2 dB at 1).
 */
const TABLE_GPTQ: TableGptqOptions = {
  dampening: 0.1,
  activationOrder: false,
  refits: 1,
  round: Math.fround,
};

/**
 * `table` with its indices (and entries, refitted) by GPTQ on the weight's Gram matrix; as it
 * was without one, or when the statistics do not fit the weight.
 */
export function withErrorFeedback(
  weights: Float64Array,
  shape: readonly number[],
  table: SensitiveTable,
  statistics: InputStatistics,
): SensitiveTable {
  const view = gramView(shape, statistics);
  if (!view) return table;
  const { gram, columns, groups } = statistics;
  const matrix = rowsOf(weights, view);
  const result = gptqTable(matrix, view.rows, columns, gram!, groups, table.lut, TABLE_GPTQ);
  const indices = scatterRows(result.indices, view, new Uint8Array(weights.length));
  return { ...table, lut: Float32Array.from(result.table), indices };
}

/** candidateTables' k-means tables, indices to the nearest entry. */
function weightedTables(
  weights: Float64Array,
  shape: readonly number[],
  nbits: number,
  statistics: InputStatistics,
): SensitiveTable[] {
  const importance = elementImportance({ shape }, statistics);
  if (!importance) return [];
  const active = activeImportance(statistics, importance);
  const relu = active && {
    ...weightedTable(weights, nbits, active),
    exponent: 1,
    reluActive: true,
  };
  // Without the Gram matrix there is nothing to choose by: the weighting that fits best.
  if (!statistics.gram) {
    return [
      relu || {
        ...weightedTable(weights, nbits, importance),
        exponent: DEFAULT_IMPORTANCE_EXPONENT,
      },
    ];
  }
  const tables: SensitiveTable[] = IMPORTANCE_EXPONENTS.map((exponent) => ({
    ...weightedTable(weights, nbits, dampedImportance(importance, exponent)),
    exponent,
  }));
  if (relu) tables.push(relu);
  return tables;
}

/**
 * Sensitive k-means of a whole weight into one float32 table: of `candidateTables`, the one
 * with the least layer-output error on the calibration data (after the ReLU, estimated, for a
 * layer feeding one, unless `errorFeedback`); undefined when the statistics do not fit.
 */
export function sensitiveTable(
  weights: Float64Array,
  shape: readonly number[],
  nbits: number,
  statistics: InputStatistics,
  errorFeedback = false,
): SensitiveTable | undefined {
  const target = fittingTarget(weights, shape, statistics);
  const tables = tablesFor(target, shape, nbits, statistics, errorFeedback);
  if (tables.length <= 1) return tables[0];
  // GPTQ's tables are judged by what GPTQ minimised, XᵀX unscaled: rescaled to the ReLU's
  // active energies, the estimate kept, on SqueezeNet's conv10, the table worst on the model's
  // output (12.3 dB on 12 photos with conv10 alone at 4 bits, the α = 0.5 one 17.4 dB).
  const scale = errorFeedback ? undefined : activeScale(shape, statistics);
  let best: { table: SensitiveTable; error: number } | undefined;
  for (const table of tables) {
    const decoded = Float64Array.from(table.indices, (index) => table.lut[index]);
    const error = outputError(shape, target, decoded, statistics, scale) ?? 0;
    if (!best || error < best.error) best = { table, error };
  }
  return best!.table;
}

/**
 * How much the input energy where a ReLU clips the output counts: errors there do not pass
 * the ReLU unless they are large enough to make the output positive, so they count a little.
 */
const INACTIVE_SHARE = 0.25;

/**
 * A layer feeding a ReLU: each element's input energy where its output is positive, plus
 * INACTIVE_SHARE of the energy where it is not (`all`: the energy everywhere, floored).
 */
function activeImportance(
  statistics: InputStatistics,
  all: Float64Array,
): Float64Array | undefined {
  const energy = statistics.activeEnergy;
  if (energy?.length !== all.length) return undefined;
  return energy.map((e, i) => e + INACTIVE_SHARE * Math.max(all[i] - e, 0));
}

/**
 * For a layer feeding a ReLU, per element (in the weight's order) √(a/d): its ReLU-active
 * importance a over its input energy d. Scaling each row's error by it turns XᵀX into an
 * estimate of that row's Gram matrix over the positions the ReLU passes (same correlations,
 * active energies on the diagonal).
 */
function activeScale(
  shape: readonly number[],
  statistics: InputStatistics,
): Float64Array | undefined {
  const all = elementImportance({ shape }, statistics);
  const active = all && activeImportance(statistics, all);
  return all && active?.map((a, i) => Math.sqrt(a / all[i]));
}
