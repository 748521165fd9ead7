/** A direct float64 GPTQ, the reference the kernel (and the pass) are held to. */
import type { GptqGrid } from "../../src/kernels/gptq.js";
import { blockParameters } from "../../src/kernels/linear-quantize.js";
import { roundHalfEven } from "../../src/kernels/rounding.js";

/**
 * GPTQ as first written (optimal brain quantization with explicit inverse updates): quantize
 * column i, move the others by the error times row i of H⁻¹ over its diagonal, then remove
 * column i from H⁻¹ by a Schur complement. No Cholesky, no batches.
 */
export function referenceGptq(
  w: Float64Array,
  rows: number,
  columns: number,
  hessian: Float64Array,
  grid: GptqGrid,
  dampening: number,
  order: number[],
): Int32Array {
  const n = columns;
  const h = Float64Array.from(hessian);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i] / n;
  for (let i = 0; i < n; i++) h[i * n + i] += dampening * mean;
  // Gauss-Jordan inverse.
  const a = Float64Array.from(h);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let i = 0; i < n; i++) {
    const p = a[i * n + i];
    for (let j = 0; j < n; j++) {
      a[i * n + j] /= p;
      inv[i * n + j] /= p;
    }
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = a[r * n + i];
      for (let j = 0; j < n; j++) {
        a[r * n + j] -= f * a[i * n + j];
        inv[r * n + j] -= f * inv[i * n + j];
      }
    }
  }
  const weights = Float64Array.from(w);
  const q = new Int32Array(rows * columns);
  const rowBlock = grid.rowBlock || rows;
  const columnBlock = grid.columnBlock || columns;
  const scale = new Map<string, { scale: number; zeroPoint: number }>();
  const parameters = (r: number, c: number) => {
    const key = `${Math.floor(r / rowBlock)},${Math.floor(c / columnBlock)}`;
    if (!scale.has(key)) {
      let low = Infinity;
      let high = -Infinity;
      const r0 = Math.floor(r / rowBlock) * rowBlock;
      const c0 = Math.floor(c / columnBlock) * columnBlock;
      for (let i = r0; i < r0 + rowBlock; i++) {
        for (let j = c0; j < c0 + columnBlock; j++) {
          low = Math.min(low, weights[i * columns + j]);
          high = Math.max(high, weights[i * columns + j]);
        }
      }
      const p = blockParameters(
        low,
        high,
        grid.mode,
        grid.signed,
        grid.qMin,
        grid.qMax,
        grid.round,
      );
      scale.set(key, { scale: p.scale, zeroPoint: Number.isNaN(p.zeroPoint) ? 0 : p.zeroPoint });
    }
    return scale.get(key)!;
  };
  const remaining = new Set(order);
  for (const c of order) {
    for (let r = 0; r < rows; r++) {
      const { scale: s, zeroPoint } = parameters(r, c);
      const v = weights[r * columns + c];
      const level = Math.min(grid.qMax, Math.max(grid.qMin, roundHalfEven(v / s) + zeroPoint));
      q[r * columns + c] = level;
      const error = (v - (level - zeroPoint) * s) / inv[c * n + c];
      for (const j of remaining) {
        if (j !== c) weights[r * columns + j] -= error * inv[c * n + j];
      }
    }
    remaining.delete(c);
    const d = inv[c * n + c];
    const row = Float64Array.from({ length: n }, (_, j) => inv[c * n + j]);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) inv[i * n + j] -= (row[i] * row[j]) / d;
    }
  }
  return q;
}
