/**
 * The one report every command that writes a model prints (quantize, palettize, prune,
 * compress, quantize-weights, quantize-activations, decompress): a table of the weights it
 * changed, the ones it left alone and why, and the model's size before and after; or, with
 * `--json`, the same as one documented object (README, "JSON output").
 */
import { LINEAR_QUANTIZER, type OpLinearQuantizerConfig } from "../config/linear-quantizer.js";
import type { OpConfig } from "../config/optimization-config.js";
import { PALETTIZER, type OpPalettizerConfig } from "../config/palettizer.js";
import { MAGNITUDE_PRUNER, THRESHOLD_PRUNER, type PrunerConfig } from "../config/pruner.js";
import { CoreMLOptimizeError } from "../errors.js";
import type { CompressionResult, SkippedWeight, WeightReport } from "../passes/driver.js";
import type { CompareReport } from "./check.js";
import { renderComparison } from "./check.js";
import { formatBytes, formatNumber, formatTable, type Align } from "./format.js";

/** A changed weight as reports show it. */
export interface ReportedWeight {
  name: string;
  shape: number[];
  /** What was applied, as in a config file (config_type and snake_case fields). */
  config: Record<string, unknown>;
  bytesBefore: number;
  bytesAfter: number;
  /** Signal-to-noise ratio of the weight against the input's, when it was measured. */
  snrDb: number | null;
  /** Multifunction models: the weight (function/name) whose compressed blobs this one shares. */
  sharedWith?: string;
  /** Sensitive k-means: the exponent α of the input energies that weighed the weight's elements. */
  importanceExponent?: number;
}

export interface ReportedSkip {
  name: string;
  reason: string;
}

export interface CommandReport {
  command: string;
  input: string;
  /** Null when nothing was written (`--dry-run`, or nothing changed). */
  output: string | null;
  dryRun: boolean;
  /** Bytes of the input model on disk, and of the output (estimated on `--dry-run`). */
  sizeBefore: number;
  sizeAfter: number;
  weights: ReportedWeight[];
  skipped: ReportedSkip[];
  warnings: string[];
  /** What to do about the warnings (e.g. which flag keeps such weights). */
  hints: string[];
  check?: CompareReport;
  /** What a command adds: `activations` (quantize-activations), `steps` (compress). */
  [extra: string]: unknown;
}

/** Exit status of a run that compressed nothing (without `--allow-empty`). */
export const NOTHING_DONE_STATUS = 3;

/** A run that changed no weight: not an error of the input, but almost never what was meant. */
export class NothingDoneError extends CoreMLOptimizeError {
  override name = "NothingDoneError";
  readonly exitCode = NOTHING_DONE_STATUS;
}

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A config as a config file writes it: `config_type` and snake_case fields, no functions. */
export function configObject(config: OpConfig | Record<string, unknown>): Record<string, unknown> {
  const { kind, ...fields } = config as OpConfig & Record<string, unknown>;
  const entries = Object.entries(fields)
    .filter(([, value]) => value !== undefined && typeof value !== "function")
    .map(([key, value]) => [snake(key), value]);
  return { ...(kind !== undefined && { config_type: kind }), ...Object.fromEntries(entries) };
}

/** How the table names each kind of config, briefly. */
const DESCRIBE: Record<string, (config: never) => string> = {
  [LINEAR_QUANTIZER]: (c: OpLinearQuantizerConfig) => {
    const block =
      c.granularity === "per_block"
        ? ` ${typeof c.blockSize === "number" ? c.blockSize : c.blockSize.join("x")}`
        : "";
    return `${c.algorithm ? `${c.algorithm} ` : ""}${c.dtype} ${c.mode} ${c.granularity}${block}`;
  },
  [PALETTIZER]: (c: OpPalettizerConfig) =>
    [
      c.algorithm ?? c.mode,
      c.nbits !== undefined ? `${c.nbits}-bit` : "",
      c.granularity === "per_grouped_channel" ? `group ${c.groupSize}` : "per_tensor",
      c.clusterDim > 1 ? `vector ${c.clusterDim}` : "",
      c.enablePerChannelScale ? "per-channel scale" : "",
    ]
      .filter(Boolean)
      .join(" "),
  [MAGNITUDE_PRUNER]: (c: PrunerConfig & { kind: typeof MAGNITUDE_PRUNER }) =>
    c.nMRatio
      ? `prune n:m ${c.nMRatio.join(":")}`
      : c.blockSize !== undefined
        ? `prune ${(c.targetSparsity ?? 0) * 100}% blocks of ${c.blockSize}`
        : `prune ${(c.targetSparsity ?? 0) * 100}% magnitude`,
  [THRESHOLD_PRUNER]: (c: PrunerConfig & { kind: typeof THRESHOLD_PRUNER }) =>
    `prune |w| <= ${c.threshold}`,
};

/** A config in a few words: a known kind by its table entry, else its fields. */
export function describeConfig(config: Record<string, unknown>): string {
  if (Array.isArray(config.steps)) {
    return (config.steps as Record<string, unknown>[]).map(describeConfig).join(" + ");
  }
  const kind = config.config_type as string | undefined;
  const camel = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
  const describe = kind ? DESCRIBE[kind] : undefined;
  if (describe) return describe(camel as never);
  return Object.entries(config)
    .filter(([key]) => key !== "config_type")
    .map(([key, value]) => `${key} ${String(value)}`)
    .join(", ");
}

/** The report's lines for the weights a compression pass changed and left alone. */
function passWeights(weights: readonly WeightReport[]): ReportedWeight[] {
  return weights.map((w) => ({
    name: qualifiedName(w),
    shape: [...w.shape],
    config: configObject(w.config),
    bytesBefore: w.bytesBefore,
    bytesAfter: w.bytesAfter,
    snrDb: w.snrDb ?? null,
    ...(w.sharedWith && { sharedWith: qualifiedName(w.sharedWith) }),
    ...(w.importanceExponent !== undefined && { importanceExponent: w.importanceExponent }),
  }));
}

export function passSkips(skipped: readonly SkippedWeight[]): ReportedSkip[] {
  return skipped.map((s) => ({ name: qualifiedName(s), reason: s.reason }));
}

/** A weight's name, after its function's for functions other than `main` (multifunction). */
function qualifiedName({ name, functionName }: { name: string; functionName: string }): string {
  return functionName === "main" ? name : `${functionName}/${name}`;
}

/** A column: its header, its alignment, a weight's cell and the totals row's cell. */
type Column = [string, Align, (w: ReportedWeight) => string, string];

export function weightTable(weights: readonly ReportedWeight[]): string {
  const total = (bytes: (w: ReportedWeight) => number) =>
    formatBytes(weights.reduce((sum, w) => sum + bytes(w), 0));
  const columns: Column[] = [
    ["weight", "left", (w) => w.name, "total"],
    ["shape", "left", (w) => `[${w.shape.join(",")}]`, `${weights.length} weights`],
    [
      "config",
      "left",
      (w) => describeConfig(w.config) + (w.sharedWith ? `, shares ${w.sharedWith}` : ""),
      "",
    ],
    ["before", "right", (w) => formatBytes(w.bytesBefore), total((w) => w.bytesBefore)],
    ["after", "right", (w) => formatBytes(w.bytesAfter), total((w) => w.bytesAfter)],
    ["SNR dB", "right", (w) => (w.snrDb === null ? "" : formatNumber(w.snrDb, 1)), ""],
  ];
  const rows = weights.map((w) => columns.map(([, , cell]) => cell(w)));
  rows.push(columns.map(([, , , totals]) => totals));
  return formatTable(
    columns.map(([header]) => header),
    rows,
    columns.map(([, align]) => align),
  );
}

/** Warnings for a report, and what to do about them. */
export interface Advice {
  warnings: string[];
  hints: string[];
}

/**
 * Warnings about compressions whose float16 scales or tables float16 holds badly (subnormal,
 * zero or infinite), naming each weight, and the hint of what to do about it.
 */
export function float16Advice(weights: readonly WeightReport[]): Advice {
  const lossy = weights.filter((w) => w.float16Loss);
  if (lossy.length === 0) return { warnings: [], hints: [] };
  const warnings = lossy.map(({ name, float16Loss: loss }) => {
    const parts = [
      loss!.subnormal && `${loss!.subnormal} subnormal`,
      loss!.zero && `${loss!.zero} zero`,
      loss!.overflow && `${loss!.overflow} infinite`,
    ].filter(Boolean);
    return `${name}: float16 makes ${parts.join(", ")} of its scales or table entries`;
  });
  const hint =
    "leave such weights alone (--op-name NAME=skip), or give them larger blocks (per_channel or per_tensor) so that their scales stay in float16's normal range";
  return { warnings, hints: [hint] };
}

/** The warnings of several parts of a run, each hint once. */
export function mergeAdvice(parts: readonly Advice[]): Advice {
  return {
    warnings: parts.flatMap((p) => p.warnings),
    hints: [...new Set(parts.flatMap((p) => p.hints))],
  };
}

/**
 * Everything a compression pass's result tells a command's report: the weights, the skips, the
 * float16 warnings and the weights that fell back to a data-free method.
 */
export function passReport(result: CompressionResult) {
  const fallbacks = result.weights.filter((w) => w.fallback);
  return {
    model: result.model,
    weights: passWeights(result.weights),
    skipped: passSkips(result.skipped),
    ...mergeAdvice([
      float16Advice(result.weights),
      { warnings: fallbacks.map((w) => `${w.name}: ${w.fallback}`), hints: [] },
    ]),
  };
}

/** How many skips of one reason are named one by one before the rest are counted. */
const NAMED_PER_REASON = 5;

/** The weights left alone, grouped by reason. */
export function skipList(skipped: readonly ReportedSkip[]): string {
  const byReason = new Map<string, string[]>();
  for (const { name, reason } of skipped) {
    byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
  }
  const lines = [...byReason].map(([reason, names]) => {
    const shown = names.slice(0, NAMED_PER_REASON).join(", ");
    const more =
      names.length > NAMED_PER_REASON ? ` and ${names.length - NAMED_PER_REASON} more` : "";
    return `  ${reason}: ${shown}${more}`;
  });
  return `left alone (${skipped.length}):\n${lines.join("\n")}`;
}

function ratio(before: number, after: number): string {
  return before > 0 ? ` (${((after / before) * 100).toFixed(1)}%)` : "";
}

/** The closing lines every command prints. */
export function closingLines(report: CommandReport, verb = "compressed"): string {
  const counts = `${verb} ${report.weights.length} weights, left ${report.skipped.length} alone`;
  const size =
    `model size ${formatBytes(report.sizeBefore)} -> ` +
    `${report.dryRun ? "about " : ""}${formatBytes(report.sizeAfter)}` +
    ratio(report.sizeBefore, report.sizeAfter);
  const where =
    report.output !== null
      ? `wrote ${report.output}`
      : report.dryRun
        ? "dry run: nothing written"
        : "nothing written";
  return `${counts}; ${size}; ${where}`;
}

/** The text report: the weight table, the skipped weights, warnings, closing lines, the check. */
export function renderReport(report: CommandReport, verb?: string): string {
  const parts: string[] = [];
  if (report.weights.length > 0) parts.push(weightTable(report.weights));
  if (report.skipped.length > 0) parts.push(skipList(report.skipped));
  parts.push(...report.warnings.map((w) => `warning: ${w}`));
  parts.push(...report.hints.map((h) => `hint: ${h}`));
  parts.push(closingLines(report, verb));
  if (report.check) parts.push(renderComparison(report.check));
  return `${parts.join("\n")}\n`;
}

/** Likely fixes for the commonest reasons a run compressed nothing. */
const EMPTY_HINTS: [RegExp, string][] = [
  [/weight_threshold/, "lower --weight-threshold"],
  [/minimum_sparsity_percentile/, "prune by magnitude (--target-sparsity) or raise --threshold"],
  [/already compressed/, "add --joint to compress compressed weights further (iOS18)"],
  [/block size/, "choose a --block-size that divides the weights' input channels"],
  [/excluded by the config/, "check the config's null entries"],
  [/distinct values/, "use --mode kmeans with --nbits"],
  [/n:m|block and n:m/, "name the weights in op_name_configs, or prune by magnitude"],
];

/** The error a run that changed nothing ends with (unless `--allow-empty`). */
export function nothingDone(report: CommandReport, verb = "compressed"): NothingDoneError {
  // The hint for the commonest reason that has one.
  const counts = new Map<string, number>();
  for (const { reason } of report.skipped) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  const reasons = [...counts].sort((a, b) => b[1] - a[1]).map(([reason]) => reason);
  const hint = reasons
    .map((reason) => EMPTY_HINTS.find(([pattern]) => pattern.test(reason))?.[1])
    .find((h) => h !== undefined);
  const why =
    reasons.length === 0 ? "the model has no weight this command applies to" : `see above`;
  return new NothingDoneError(
    `nothing was ${verb} (${why})${hint ? `; ${hint}` : ""}; --allow-empty accepts this`,
  );
}
