/** Text renderings of the quality commands' reports: per-op comparisons, sensitivity, recipes. */
import type { PerOpComparison } from "../analysis/per-op.js";
import { formatNumber, formatTable } from "./format.js";

const db = (value: number) => formatNumber(value, 1);

export function renderPerOp(
  report: PerOpComparison & { reference: string; candidate: string },
): string {
  const rows = report.values.map((v, i) => [
    String(i + 1),
    v.name,
    v.opType === "layer" ? v.op : `${v.opType} ${v.op}`,
    db(v.snrDb),
    db(v.psnrDb),
    v.maxAbsError.toPrecision(3),
    v.lossDb > 0 ? db(v.lossDb) : "",
    v.name === report.firstBelow ? `<- first below ${report.thresholdDb} dB` : "",
  ]);
  const lines = [
    `${report.candidate} against ${report.reference}, ${report.samples} sample(s), ${report.values.length} shared value(s):`,
    formatTable(["#", "value", "op", "SNR dB", "PSNR dB", "max abs err", "loses dB", ""], rows),
    report.firstBelow === undefined
      ? `no value falls below ${report.thresholdDb} dB`
      : `first value below ${report.thresholdDb} dB: ${report.firstBelow}`,
  ];
  if (report.worst.length > 0) lines.push(`ops losing the most SNR: ${report.worst.join(", ")}`);
  if (report.onlyInReference + report.onlyInCandidate > 0) {
    lines.push(
      `not compared: ${report.onlyInReference} value(s) only in the reference, ${report.onlyInCandidate} only in the candidate`,
    );
  }
  return lines.join("\n");
}
