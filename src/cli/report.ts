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

/**
 * A warning per weight whose float16 scales or tables float16 holds badly (a block of tiny
 * weights gets a subnormal scale, with fewer significant bits), and how to avoid it.
 */
export function float16Warnings(weights: readonly WeightReport[]): string {
  const lossy = weights.filter((w) => w.float16Loss);
  if (lossy.length === 0) return "";
  const lines = lossy.map(({ name, float16Loss: loss }) => {
    const parts = [
      loss!.subnormal && `${loss!.subnormal} subnormal`,
      loss!.zero && `${loss!.zero} zero`,
      loss!.overflow && `${loss!.overflow} infinite`,
    ].filter(Boolean);
    return `warning: ${name}: float16 makes ${parts.join(", ")} of its scales or table entries\n`;
  });
  lines.push(
    "hint: leave such weights alone (--op-name NAME=skip), or give them larger blocks (per_channel or per_tensor) so that their scales stay in float16's normal range\n",
  );
  return lines.join("");
}

/** The table, the model's size on disk before and after, and float16 warnings. */
export function compressionSummary(
  outcome: { weights: WeightReport[]; sizeBefore: number; sizeAfter: number },
  describe?: (config: WeightReport["config"]) => string,
): string {
  return (
    `${compressionTable(outcome, describe)}\n` +
    `model size: ${formatBytes(outcome.sizeBefore)} -> ${formatBytes(outcome.sizeAfter)}\n` +
    float16Warnings(outcome.weights)
  );
}
