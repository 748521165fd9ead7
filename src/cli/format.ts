/** Plain-text output helpers for the CLI: sizes, numbers and aligned tables. */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatNumber(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  return value.toFixed(digits);
}

export type Align = "left" | "right";

/** Renders rows as columns padded to their widest cell; numbers-like columns align right. */
export function formatTable(header: string[], rows: string[][], align?: Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const alignments =
    align ??
    header.map((_, i) =>
      rows.every((r) => /^[-+\d.,% ]*[A-Za-z]*$/.test(r[i] ?? "") && /\d/.test(r[i] ?? ""))
        ? "right"
        : "left",
    );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        alignments[i] === "right" ? cell.padStart(widths[i]) : cell.padEnd(widths[i]),
      )
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
