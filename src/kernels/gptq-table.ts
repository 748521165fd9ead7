/**
 * GPTQ onto one look-up table: the grid is a table of 2^nbits values shared by every element of
 * a weight (a neural network's `kmeans_lut`), not a uniform one. Each column's elements go to
 * the table's nearest entry to their values as updated by the errors of the columns before
 * (gptqRound); the table is then refitted to the chosen indices by least squares under the
 * Hessian (its entries e minimise Σ_rows (w − M e)·H·(w − M e)ᵀ, M the rows' one-hot indices:
 * a k×k solve), and the indices chosen again for the refitted table. Of nearest-entry rounding
 * on the given table and every table and index set visited, the one with the least
 * layer-output error Σ_rows Δ·H·Δᵀ is kept, so it is never worse than nearest-entry rounding.
 */
import { choleskyInPlace, choleskySolve, gptqRound, type GptqOptions } from "./gptq.js";

export interface TableGptqOptions extends GptqOptions {
  /** Times the table is refitted to the indices and the indices chosen again (0: GPTQ only). */
  refits: number;
  /** Rounds a refitted entry to the precision the table is stored in (e.g. Math.fround). */
  round: (value: number) => number;
}

export interface TableGptqResult {
  /** The table kept (entries as rounded by `round`, or the given ones). */
  table: Float64Array;
  /** Its index per element, rows × columns, row-major. */
  indices: Uint8Array;
  /** Σ_rows Δ·H·Δᵀ of the kept table and indices, with the undamped Hessians. */
  error: number;
}

/** A refitted entry moves towards its least-squares value; this much of A's mean diagonal holds it back (A is singular for unused entries). */
const REFIT_RIDGE = 1e-9;

/**
 * Quantizes `weight` (rows × columns, row-major, float64) onto `table` (at most 256 entries,
 * any order): the rows form `groups` consecutive groups, group g's columns multiplying the
 * inputs whose Gram matrix is `hessians[g]` (groups × columns × columns).
 */
export function gptqTable(
  weight: Float64Array,
  rows: number,
  columns: number,
  hessians: Float64Array,
  groups: number,
  table: ArrayLike<number>,
  options: TableGptqOptions,
): TableGptqResult {
  if (rows % groups !== 0) throw new RangeError(`${groups} groups do not split ${rows} rows`);
  if (table.length === 0 || table.length > 256) {
    throw new RangeError(`a table of ${table.length} entries`);
  }
  const problem = { weight, rows, columns, hessians, groups };
  let current = Float64Array.from(table);
  const nearest = nearestIndices(weight, current);
  let best: TableGptqResult = {
    table: current,
    indices: nearest,
    error: outputError(problem, current, nearest),
  };
  const consider = (candidate: Float64Array, indices: Uint8Array) => {
    const error = outputError(problem, candidate, indices);
    if (error < best.error) best = { table: candidate, indices, error };
  };
  for (let pass = 0; ; pass++) {
    const indices = errorFeedbackIndices(problem, current, options);
    consider(current, indices);
    if (pass === options.refits) break;
    current = refitTable(problem, current, indices).map(options.round);
    consider(current, indices);
  }
  return best;
}

interface Problem {
  weight: Float64Array;
  rows: number;
  columns: number;
  hessians: Float64Array;
  groups: number;
}

/** The table's entries ascending, and where each is in the table. */
function sortedEntries(table: Float64Array): { values: Float64Array; entries: Uint8Array } {
  const entries = Uint8Array.from(table.keys()).sort((a, b) => table[a] - table[b] || a - b);
  return { values: Float64Array.from(entries, (e) => table[e]), entries };
}

/** Index of the entry of ascending `values` nearest to `x` (the lower one on a tie). */
function nearestSorted(values: Float64Array, x: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > (values[mid] + values[mid + 1]) / 2) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Each element's nearest entry of `table`. */
export function nearestIndices(values: Float64Array, table: Float64Array): Uint8Array {
  const sorted = sortedEntries(table);
  return Uint8Array.from(values, (v) => sorted.entries[nearestSorted(sorted.values, v)]);
}

/** GPTQ's indices onto `table`, group by group. */
function errorFeedbackIndices(
  { weight, rows, columns, hessians, groups }: Problem,
  table: Float64Array,
  options: GptqOptions,
): Uint8Array {
  const sorted = sortedEntries(table);
  const indices = new Uint8Array(rows * columns);
  const rowsPerGroup = rows / groups;
  const size = columns * columns;
  for (let g = 0; g < groups; g++) {
    const first = g * rowsPerGroup * columns;
    const matrix = weight.subarray(first, first + rowsPerGroup * columns);
    const hessian = hessians.subarray(g * size, (g + 1) * size);
    gptqRound(matrix, rowsPerGroup, columns, hessian, options, (c, column, reconstructed) => {
      for (let r = 0; r < rowsPerGroup; r++) {
        const at = nearestSorted(sorted.values, column[r]);
        indices[first + r * columns + c] = sorted.entries[at];
        reconstructed[r] = sorted.values[at];
      }
    });
  }
  return indices;
}

/** Σ_rows Δ·H·Δᵀ, Δ = a row of weight − table[indices], each row with its group's Hessian. */
export function outputError(
  { weight, rows, columns, hessians, groups }: Problem,
  table: Float64Array,
  indices: Uint8Array,
): number {
  const rowsPerGroup = rows / groups;
  const delta = new Float64Array(columns);
  let error = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    for (let c = 0; c < columns; c++) delta[c] = weight[base + c] - table[indices[base + c]];
    const h = hessians.subarray(Math.floor(r / rowsPerGroup) * columns * columns);
    for (let i = 0; i < columns; i++) {
      if (delta[i] === 0) continue;
      const row = i * columns;
      let sum = 0;
      for (let j = 0; j < columns; j++) sum += h[row + j] * delta[j];
      error += delta[i] * sum;
    }
  }
  return error;
}

/**
 * The entries e minimising Σ_rows (w − M e)·H·(w − M e)ᵀ for fixed indices: A e = b with
 * A[k][l] = Σ_rows Σ_{c: q=k} Σ_{c': q=l} H[c][c'] and b[k] = Σ_rows Σ_{c: q=k} (H w)[c], a
 * ridge towards the current entries keeping A positive definite (unused entries stay).
 */
function refitTable(
  { weight, rows, columns, hessians, groups }: Problem,
  table: Float64Array,
  indices: Uint8Array,
): Float64Array {
  const k = table.length;
  const a = new Float64Array(k * k);
  const b = new Float64Array(k);
  const rowsPerGroup = rows / groups;
  const sums = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * columns;
    const h = hessians.subarray(Math.floor(r / rowsPerGroup) * columns * columns);
    for (let c = 0; c < columns; c++) {
      sums.fill(0);
      let product = 0;
      const row = c * columns;
      for (let j = 0; j < columns; j++) {
        const value = h[row + j];
        sums[indices[base + j]] += value;
        product += value * weight[base + j];
      }
      const entry = indices[base + c];
      for (let l = 0; l < k; l++) a[entry * k + l] += sums[l];
      b[entry] += product;
    }
  }
  let trace = 0;
  for (let i = 0; i < k; i++) trace += a[i * k + i];
  const ridge = Math.max((REFIT_RIDGE * trace) / k, Number.MIN_VALUE);
  for (let i = 0; i < k; i++) {
    a[i * k + i] += ridge;
    b[i] += ridge * table[i];
  }
  if (!choleskyInPlace(a, k)) return table;
  return choleskySolve(a, k, b);
}
