/** Summary tables of compression results. */
import type { CompressionResult, WeightReport } from "../passes/driver.js";
import { formatBytes, formatNumber, formatTable, type Align } from "./format.js";

/** A column: its header, its alignment, a weight's cell and the totals row's cell. */
type Column = [string, Align, (w: WeightReport) => string, string];

/**
 * Each compressed weight with its config (as `describe` puts it, when given), its size before
 * and after, and its signal-to-noise ratio against the original; then the totals.
 */
export function compressionTable(
  result: Pick<CompressionResult, "weights">,
  describe?: (config: WeightReport["config"]) => string,
): string {
  const { weights } = result;
  const total = (bytes: (w: WeightReport) => number) =>
    formatBytes(weights.reduce((sum, w) => sum + bytes(w), 0));
  const columns: Column[] = [
    ["weight", "left", (w) => w.name, "total"],
    ["type", "left", (w) => `${w.dtype}[${w.shape.join(",")}]`, `${weights.length} weights`],
    ...(describe ? [["config", "left", (w) => describe(w.config), ""] as Column] : []),
    ["before", "right", (w) => formatBytes(w.bytesBefore), total((w) => w.bytesBefore)],
    ["after", "right", (w) => formatBytes(w.bytesAfter), total((w) => w.bytesAfter)],
    ["SNR dB", "right", (w) => (w.snrDb === undefined ? "" : formatNumber(w.snrDb, 1)), ""],
  ];
  const rows = weights.map((w) => columns.map(([, , cell]) => cell(w)));
  rows.push(columns.map(([, , , totals]) => totals));
  return formatTable(
    columns.map(([header]) => header),
    rows,
    columns.map(([, align]) => align),
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
