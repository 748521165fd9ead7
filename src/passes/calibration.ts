/**
 * What data-aware compressions know of a weight's inputs: second moments of the activations
 * it multiplies, gathered by running the model on calibration samples (src/calibrate/). A
 * weight is seen as a matrix: one row per output channel, one column per input the
 * activation vector feeds it (for a conv, an input channel at one kernel position).
 */
import type { Tensor } from "../kernels/dtype.js";

export interface InputStatistics {
  /**
   * The weight's axes whose flattened index (in this order) is the column: [1] for linear
   * weights [out, in], [1, 2, 3] for conv weights [out, in/groups, kh, kw], a matmul's operand
   * by its transposes, [0] for a gather table. The remaining axis, if any, gives the rows.
   */
  inputAxes: readonly number[];
  /** A grouped conv's groups: output channels (axis 0) split evenly, statistics per group. */
  groups: number;
  /** Columns per group. */
  columns: number;
  /** Activation vectors seen per group (tokens, pixels, indices). */
  vectors: number;
  /** groups × columns: Σ x_j² (the diagonal of XᵀX). */
  diagonal: Float64Array;
  /** groups × columns × columns: XᵀX, when the compression asked for it. */
  gram?: Float64Array;
  /**
   * groups × columns × columns: Σ x_ref·xᵀ, when these inputs came through already-quantized
   * layers and x_ref are the float model's: the weight is then fitted to give the float
   * model's output from these inputs (kernels/compensate.ts). Indexed [x_ref][x].
   */
  crossGram?: Float64Array;
  /**
   * Rows × columns (the weight's matrix view): the energy of each element's input over only
   * the vectors where its output is positive, for a layer whose output only a ReLU reads
   * (errors where the ReLU clips its output to 0 do not propagate).
   */
  activeEnergy?: Float64Array;
}

/** The calibration statistics of the weights (const op names) of one program function. */
export interface Calibration {
  statistics(functionName: string, weight: string): InputStatistics | undefined;
}

/** How a weight's elements map onto its matrix form. */
export interface MatrixView {
  rows: number;
  columns: number;
  /** Element offset in the tensor of matrix entry (row, column). */
  offset(row: number, column: number): number;
}

/**
 * The matrix view of a weight of `shape` whose columns are `inputAxes` (and rows the one other
 * axis, if any); undefined when more than one axis is left for rows.
 */
export function matrixView(
  shape: readonly number[],
  inputAxes: readonly number[],
): MatrixView | undefined {
  const strides = shape.map((_, axis) => shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  const rowAxes = shape.map((_, axis) => axis).filter((axis) => !inputAxes.includes(axis));
  if (rowAxes.length > 1) return undefined;
  const rowAxis = rowAxes[0];
  const rows = rowAxis === undefined ? 1 : shape[rowAxis];
  const rowStride = rowAxis === undefined ? 0 : strides[rowAxis];
  const columns = inputAxes.reduce((n, axis) => n * shape[axis], 1);
  // Offset of each column: its coordinates on the input axes, in their order.
  const columnOffsets = new Int32Array(columns);
  for (let c = 0; c < columns; c++) {
    let rest = c;
    let offset = 0;
    for (let i = inputAxes.length - 1; i >= 0; i--) {
      const axis = inputAxes[i];
      offset += (rest % shape[axis]) * strides[axis];
      rest = Math.floor(rest / shape[axis]);
    }
    columnOffsets[c] = offset;
  }
  return { rows, columns, offset: (row, column) => row * rowStride + columnOffsets[column] };
}

/**
 * Lower bound of an element's importance, relative to the mean: inputs the calibration never
 * (or hardly) saw still count a little, and no cluster is left with no weight at all.
 */
const IMPORTANCE_FLOOR = 1e-3;

/**
 * Each element's importance for weighted clustering: the energy Σ x_j² of the input it
 * multiplies (its column's diagonal entry of XᵀX), in the tensor's element order.
 */
export function elementImportance(
  tensor: Pick<Tensor, "shape">,
  statistics: InputStatistics,
): Float64Array | undefined {
  const view = matrixView(tensor.shape, statistics.inputAxes);
  if (!view || view.columns !== statistics.columns) return undefined;
  if (view.rows % statistics.groups !== 0) return undefined;
  const { diagonal } = statistics;
  let mean = 0;
  for (const d of diagonal) mean += d / diagonal.length;
  const floor = mean > 0 ? mean * IMPORTANCE_FLOOR : 1;
  const out = new Float64Array(view.rows * view.columns);
  const rowsPerGroup = view.rows / statistics.groups;
  for (let r = 0; r < view.rows; r++) {
    const base = Math.floor(r / rowsPerGroup) * statistics.columns;
    for (let c = 0; c < view.columns; c++) {
      out[view.offset(r, c)] = Math.max(diagonal[base + c], floor);
    }
  }
  return out;
}
