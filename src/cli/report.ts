/** Summary tables of compression results. */
import type { CompressionResult, WeightReport } from "../passes/driver.js";
import { formatBytes, formatNumber, formatTable } from "./format.js";

/**
 * Each compressed weight with its config (as `describe` puts it, when given), its size before
 * and after, and its signal-to-noise ratio against the original; then the totals.
 */
export function compressionTable(
  result: Pick<CompressionResult, "weights">,
  describe?: (config: WeightReport["config"]) => string,
): string {
  const { weights } = result;
  const rows = weights.map((w) => [
    w.name,
    `${w.dtype}[${w.shape.join(",")}]`,
    describe ? describe(w.config) : "",
    formatBytes(w.bytesBefore),
    formatBytes(w.bytesAfter),
    w.snrDb === undefined ? "" : formatNumber(w.snrDb, 1),
  ]);
  const before = weights.reduce((sum, w) => sum + w.bytesBefore, 0);
  const after = weights.reduce((sum, w) => sum + w.bytesAfter, 0);
  rows.push([
    "total",
    `${weights.length} weights`,
    "",
    formatBytes(before),
    formatBytes(after),
    "",
  ]);
  const header = ["weight", "type", "config", "before", "after", "SNR dB"];
  const align = ["left", "left", "left", "right", "right", "right"] as const;
  const keep = describe ? header.map(() => true) : header.map((h) => h !== "config");
  return formatTable(
    header.filter((_, i) => keep[i]),
    rows.map((row) => row.filter((_, i) => keep[i])),
    align.filter((_, i) => keep[i]),
  );
}

/** The table and the model's size on disk before and after. */
export function compressionSummary(
  outcome: { weights: WeightReport[]; sizeBefore: number; sizeAfter: number },
  describe?: (config: WeightReport["config"]) => string,
): string {
  return (
    `${compressionTable(outcome, describe)}\n` +
    `model size: ${formatBytes(outcome.sizeBefore)} -> ${formatBytes(outcome.sizeAfter)}\n`
  );
}
