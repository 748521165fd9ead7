/**
 * GPTQ for `linear_quantize_weights` (config `algorithm: "gptq"`): the weight seen as a matrix
 * of output channels × inputs (calibration.ts), quantized by the GPTQ kernel on the blocks the
 * round-to-nearest path would use, written back in the weight's layout with scales and zero
 * points shaped, typed and stored as round-to-nearest writes them.
 */
import { ELEMENT_TYPES, type Tensor } from "../kernels/dtype.js";
import { floatToHalf, roundToHalf } from "../kernels/fp16.js";
import { gptq, gptqRound, type GptqOptions } from "../kernels/gptq.js";
import {
  quantizationRange,
  type LinearQuantized,
  type LinearQuantizeSpec,
} from "../kernels/linear-quantize.js";
import { snrDb } from "../kernels/snr.js";
import { numericValues } from "../kernels/values.js";
import { matrixView, type InputStatistics } from "./calibration.js";

/** GPTQ's result, or why the weight gets round-to-nearest instead. */
export function gptqQuantize(
  tensor: Tensor,
  spec: LinearQuantizeSpec,
  statistics: InputStatistics,
  options: GptqOptions,
): LinearQuantized | { fallback: string } {
  const { shape } = tensor;
  const { inputAxes, groups, gram } = statistics;
  if (!gram) return { fallback: "no input Gram matrix for this weight" };
  const view = matrixView(shape, inputAxes);
  const rowAxis = shape.findIndex((_, axis) => !inputAxes.includes(axis));
  if (!view || rowAxis < 0 || view.columns !== statistics.columns) {
    return { fallback: "its consumers do not use it as one matrix of outputs × inputs" };
  }
  const [firstInput, ...otherInputs] = inputAxes;
  if (
    otherInputs.some((axis) => spec.blockSizes[axis] !== 0 && spec.blockSizes[axis] !== shape[axis])
  ) {
    return { fallback: "blocks across kernel positions" };
  }
  const inner = otherInputs.reduce((n, axis) => n * shape[axis], 1);
  const rowsPerGroup = view.rows / groups;
  const rowBlock = spec.blockSizes[rowAxis] === 0 ? view.rows : spec.blockSizes[rowAxis];
  if (rowsPerGroup % rowBlock !== 0) return { fallback: "scale blocks span conv groups" };
  const columnBlock = spec.blockSizes[firstInput] * inner;

  const traits = ELEMENT_TYPES[spec.dtype];
  const signed = traits.kind === "signed";
  const [qMin, qMax] = quantizationRange(traits.bits, signed, spec.mode);
  const isHalf = tensor.dtype === "fp16";
  const grid = {
    mode: spec.mode,
    signed,
    qMin,
    qMax,
    rowBlock,
    columnBlock,
    round: isHalf ? roundToHalf : Math.fround,
  };

  const values = numericValues(tensor);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return { fallback: "it holds an infinity or a NaN" };
  }
  const scaleShape = shape.map((d, axis) =>
    spec.blockSizes[axis] > 0 ? d / spec.blockSizes[axis] : 1,
  );
  const scaleStrides = scaleShape.map((_, axis) =>
    scaleShape.slice(axis + 1).reduce((a, b) => a * b, 1),
  );
  const blockCount = scaleShape.reduce((a, b) => a * b, 1);
  const data = new traits.array!(values.length) as Int8Array | Uint8Array;
  const scales = new Float64Array(blockCount);
  const offsets = new Float64Array(blockCount);
  const { columns } = view;
  const matrix = new Float64Array(rowsPerGroup * columns);
  for (let g = 0; g < groups; g++) {
    const firstRow = g * rowsPerGroup;
    for (let r = 0; r < rowsPerGroup; r++) {
      for (let c = 0; c < columns; c++)
        matrix[r * columns + c] = values[view.offset(firstRow + r, c)];
    }
    const hessian = gram.subarray(g * columns * columns, (g + 1) * columns * columns);
    const result = gptq(matrix, rowsPerGroup, columns, hessian, grid, options);
    const columnBlocks = columns / (columnBlock || columns);
    for (let r = 0; r < rowsPerGroup; r++) {
      for (let c = 0; c < columns; c++)
        data[view.offset(firstRow + r, c)] = result.q[r * columns + c];
    }
    for (let rb = 0; rb < rowsPerGroup / rowBlock; rb++) {
      for (let cb = 0; cb < columnBlocks; cb++) {
        const at =
          (firstRow / rowBlock + rb) * scaleStrides[rowAxis] + cb * scaleStrides[firstInput];
        scales[at] = result.scales[rb * columnBlocks + cb];
        offsets[at] = result.zeroPoints[rb * columnBlocks + cb];
      }
    }
  }
  return quantizedTensors(tensor, spec, data, scaleShape, scales, offsets);
}

/** The stored tensors, as round-to-nearest stores them, and the reconstruction's SNR. */
function quantizedTensors(
  tensor: Tensor,
  spec: LinearQuantizeSpec,
  data: Int8Array | Uint8Array,
  scaleShape: number[],
  scales: Float64Array,
  offsets: Float64Array,
): LinearQuantized {
  const { shape } = tensor;
  const values = numericValues(tensor);
  const blockOf = blockIndexer(shape, spec.blockSizes, scaleShape);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < values.length; i++) {
    const b = blockOf(i);
    const error = values[i] - (data[i] - offsets[b]) * scales[b];
    signal += values[i] * values[i];
    noise += error * error;
  }
  const traits = ELEMENT_TYPES[spec.dtype];
  const result: LinearQuantized = {
    data: { dtype: spec.dtype, shape: [...shape], data },
    scale: {
      dtype: tensor.dtype,
      shape: scaleShape,
      data:
        tensor.dtype === "fp16" ? Uint16Array.from(scales, floatToHalf) : Float32Array.from(scales),
    },
    snrDb: snrDb(signal, noise),
  };
  if (spec.mode === "linear" || traits.kind !== "signed") {
    const zeroPoints = new traits.array!(offsets.length) as Int8Array | Uint8Array;
    zeroPoints.set(offsets);
    result.zeroPoint = { dtype: spec.dtype, shape: scaleShape, data: zeroPoints };
  }
  return result;
}

/** The block (row-major in `scaleShape`) of each element. */
function blockIndexer(
  shape: readonly number[],
  blockSizes: readonly number[],
  scaleShape: readonly number[],
): (element: number) => number {
  return (element) => {
    let block = 0;
    let stride = 1;
    let rest = element;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      const coordinate = rest % shape[axis];
      rest = Math.floor(rest / shape[axis]);
      if (blockSizes[axis] > 0) block += Math.floor(coordinate / blockSizes[axis]) * stride;
      stride *= scaleShape[axis];
    }
    return block;
  };
}

/** A table's distinct entries as stored, ascending, and where each is in the table. */
export interface PaletteTable {
  values: Float64Array;
  entries: Uint8Array;
}

/**
 * GPTQ with a palettization's tables as the grid: each element's index becomes the nearest
 * entry of its table to its value as updated by the errors of the columns before it. `tables`
 * gives an element's (tensor offset) table, ascending, as stored; `indices` (tensor order) are
 * rewritten in place. Undefined when done, else why the indices are left as they are.
 */
export function gptqPaletteIndices(
  tensor: Tensor,
  tables: (offset: number) => PaletteTable,
  indices: Uint8Array,
  statistics: InputStatistics,
  options: GptqOptions,
): { fallback: string } | undefined {
  const { inputAxes, groups, gram, columns } = statistics;
  if (!gram) return { fallback: "no input Gram matrix for this weight" };
  const view = matrixView(tensor.shape, inputAxes);
  if (!view || view.columns !== columns || view.rows % groups !== 0) {
    return { fallback: "its consumers do not use it as one matrix of outputs × inputs" };
  }
  const values = numericValues(tensor);
  const rowsPerGroup = view.rows / groups;
  const matrix = new Float64Array(rowsPerGroup * columns);
  for (let g = 0; g < groups; g++) {
    const firstRow = g * rowsPerGroup;
    for (let r = 0; r < rowsPerGroup; r++) {
      for (let c = 0; c < columns; c++) {
        matrix[r * columns + c] = values[view.offset(firstRow + r, c)];
      }
    }
    const hessian = gram.subarray(g * columns * columns, (g + 1) * columns * columns);
    gptqRound(matrix, rowsPerGroup, columns, hessian, options, (c, column, reconstructed) => {
      for (let r = 0; r < rowsPerGroup; r++) {
        const offset = view.offset(firstRow + r, c);
        const table = tables(offset);
        const nearest = nearestEntry(table.values, column[r]);
        indices[offset] = table.entries[nearest];
        reconstructed[r] = table.values[nearest];
      }
    });
  }
  return undefined;
}

/** Index of the entry of ascending `table` nearest to `x` (the lower one on a tie). */
function nearestEntry(table: Float64Array, x: number): number {
  let lo = 0;
  let hi = table.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > (table[mid] + table[mid + 1]) / 2) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
