/**
 * Weights that answer the error of the layers before them. A layer whose inputs x arrive
 * through already-quantized layers, where the float network gave x_ref, reproduces the float
 * output w·x_ref best (least squares over the calibration vectors) with ŵ·H = w·C, where
 * H = Σ x xᵀ and C = Σ x_ref xᵀ; and for any ŵ, Σ (w·x_ref − ŵ·x)² = (ŵ − ŵ*)·H·(ŵ − ŵ*)ᵀ
 * plus a constant, so quantizing ŵ* under H (GPTQ, weighted k-means) minimises the error
 * against the float network, not against the float weights on quantized inputs. Solved as
 * ŵ* = w + w·(C − H)·(H + λI)⁻¹: the dampening λ shrinks the correction, not the weight.
 */
import { choleskyInPlace, choleskySolve } from "./gptq.js";

/**
 * `weight` (rows × columns, row-major; `groups` consecutive groups of rows, group g's inputs
 * with Gram matrix `hessians[g]` and cross matrix `cross[g]`, each columns × columns, cross
 * indexed [reference input][input]) corrected as above, dampened by `dampening` times each
 * Hessian's mean diagonal; a group whose Hessian stays singular keeps its rows.
 */
export function compensatedWeights(
  weight: Float64Array,
  rows: number,
  columns: number,
  hessians: Float64Array,
  cross: Float64Array,
  groups: number,
  dampening: number,
): Float64Array {
  const out = Float64Array.from(weight);
  const size = columns * columns;
  const rowsPerGroup = rows / groups;
  const shift = new Float64Array(columns);
  for (let g = 0; g < groups; g++) {
    const h = hessians.subarray(g * size, (g + 1) * size);
    const c = cross.subarray(g * size, (g + 1) * size);
    let mean = 0;
    for (let i = 0; i < columns; i++) mean += h[i * columns + i];
    mean /= columns;
    if (!(mean > 0)) continue;
    const factor = Float64Array.from(h);
    for (let i = 0; i < columns; i++) factor[i * columns + i] += dampening * mean;
    if (!choleskyInPlace(factor, columns)) continue;
    for (let r = g * rowsPerGroup; r < (g + 1) * rowsPerGroup; r++) {
      const w = weight.subarray(r * columns, (r + 1) * columns);
      shift.fill(0);
      for (let i = 0; i < columns; i++) {
        const wi = w[i];
        if (wi === 0) continue;
        const row = i * columns;
        for (let j = 0; j < columns; j++) shift[j] += wi * (c[row + j] - h[row + j]);
      }
      const correction = choleskySolve(factor, columns, shift);
      for (let j = 0; j < columns; j++) out[r * columns + j] += correction[j];
    }
  }
  return out;
}
