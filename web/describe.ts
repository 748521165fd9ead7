/** Words and numbers for the page: sizes, ratios and configs in a few words each. */
import type { OpConfig } from "../src/config/optimization-config.js";
import type { OpLinearQuantizerConfig } from "../src/config/linear-quantizer.js";
import type { OpPalettizerConfig } from "../src/config/palettizer.js";
import type { OpMagnitudePrunerConfig, OpThresholdPrunerConfig } from "../src/config/pruner.js";

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A number with `digits` decimals; "inf" for identical values (an infinite SNR). */
export function formatNumber(value: number | undefined, digits = 1): string {
  if (value === undefined) return "";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  return value.toFixed(digits);
}

export const percent = (value: number | undefined) =>
  value === undefined ? "" : `${(value * 100).toFixed(1)}%`;

const DESCRIBE: Record<string, (config: never) => string> = {
  OpLinearQuantizerConfig: (c: OpLinearQuantizerConfig) =>
    [
      c.dtype,
      c.granularity.replace("_", "-"),
      c.granularity === "per_block" ? `${[c.blockSize].flat().join("×")}` : "",
      c.mode === "linear" ? "affine" : "symmetric",
    ]
      .filter(Boolean)
      .join(" "),
  OpPalettizerConfig: (c: OpPalettizerConfig) =>
    [
      c.nbits === undefined ? c.mode : `${c.nbits}-bit ${c.mode}`,
      c.granularity === "per_grouped_channel" ? `groups of ${c.groupSize}` : "per-tensor",
      c.clusterDim > 1 ? `vectors of ${c.clusterDim}` : "",
      c.enablePerChannelScale ? "channel scales" : "",
    ]
      .filter(Boolean)
      .join(", "),
  OpMagnitudePrunerConfig: (c: OpMagnitudePrunerConfig) =>
    c.nMRatio
      ? `${c.nMRatio[0]}:${c.nMRatio[1]} sparse`
      : `${percent(c.targetSparsity)} sparse${c.blockSize ? `, blocks of ${c.blockSize}` : ""}`,
  OpThresholdPrunerConfig: (c: OpThresholdPrunerConfig) => `|w| ≤ ${c.threshold} zeroed`,
};

/** A weight's config in a few words, e.g. "int4 per-block 32 symmetric". */
export function describeConfig(config: OpConfig): string {
  return DESCRIBE[config.kind]?.(config as never) ?? config.kind;
}
