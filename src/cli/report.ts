/** Summary tables of compression results. */
import type { CompressionResult } from "../passes/driver.js";
import { formatBytes, formatTable } from "./format.js";

/** Each compressed weight with its size before and after, and the totals. */
export function compressionTable(result: Pick<CompressionResult, "weights">): string {
  const rows = result.weights.map((w) => [
    w.name,
    w.dtype,
    `[${w.shape.join(",")}]`,
    formatBytes(w.bytesBefore),
    formatBytes(w.bytesAfter),
  ]);
  const before = result.weights.reduce((sum, w) => sum + w.bytesBefore, 0);
  const after = result.weights.reduce((sum, w) => sum + w.bytesAfter, 0);
  rows.push([
    "total",
    "",
    `${result.weights.length} weights`,
    formatBytes(before),
    formatBytes(after),
  ]);
  return formatTable(["weight", "dtype", "shape", "before", "after"], rows);
}
