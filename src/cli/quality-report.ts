/** Text renderings of the quality commands' reports: per-op comparisons, sensitivity, recipes. */
import type { PerOpComparison } from "../analysis/per-op.js";
import type { RecipeChoice, RecipePrediction } from "../analysis/recipe.js";
import type { RecipeMeasurement } from "../analysis/recipe-check.js";
import type { SensitivityTable, Trial } from "../analysis/sensitivity.js";
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

/** Weights as rows, candidates as columns: the output's SNR (dB) with that weight compressed. */
export function renderSensitivity(table: SensitivityTable): string {
  const labels = table.candidates.map((c) => c.label);
  const trial = new Map(table.trials.map((t) => [`${t.weight}\u0000${t.candidate}`, t]));
  const cell = (weight: string, label: string, show: (t: Trial) => string) => {
    const t = trial.get(`${weight}\u0000${label}`);
    return t ? show(t) : "-";
  };
  const grid = (show: (t: Trial) => string) =>
    table.weights.map((w) => [
      w.name,
      String(w.elements),
      ...labels.map((l) => cell(w.name, l, show)),
    ]);
  // Bits per weight of each candidate over the weights it compresses.
  const bits = labels.map((label) => {
    const trials = table.trials.filter((t) => t.candidate === label);
    const bytes = trials.reduce((n, t) => n + t.bytes, 0);
    const elements = trials.reduce((n, t) => n + (t.bytes * 8) / t.bitsPerWeight, 0);
    return elements ? ((bytes * 8) / elements).toFixed(2) : "-";
  });
  const lines = [
    `output ${table.output} over ${table.samples} sample(s): its SNR (dB) with each weight alone compressed`,
    formatTable(
      ["weight", "elements", ...labels],
      [...grid((t) => db(t.snrDb)), ["bits/weight", "", ...bits]],
    ),
  ];
  if (table.scores) {
    lines.push(
      "",
      "mean KL divergence (nats) of the output's class distribution, same trials",
      formatTable(
        ["weight", "elements", ...labels],
        grid((t) => (t.meanKl ?? NaN).toExponential(2)),
      ),
    );
  }
  for (const s of table.skipped)
    lines.push(`note: ${s.candidate} leaves ${s.weight} alone: ${s.reason}`);
  return lines.join("\n");
}

export interface RecipeSummary {
  model: string;
  recipe: string;
  choices: RecipeChoice[];
  predicted: RecipePrediction;
  measured?: RecipeMeasurement;
  samples?: number;
  /** How a neural network's calibrated layers were fitted when measured (and are to be applied). */
  fitting?: "sequential" | "compensate";
}

/** The choice per weight, then predicted against measured size and quality. */
export function renderRecipe(summary: RecipeSummary, neural = false): string {
  const rows = summary.choices.map((c) => [
    c.weight,
    c.candidate ?? "(as is)",
    c.bitsPerWeight.toFixed(2),
    db(c.snrDb),
    c.meanKl === undefined ? "" : c.meanKl.toExponential(2),
  ]);
  const { predicted, measured } = summary;
  const calibrates = summary.choices.some((c) => (c.config as { algorithm?: string })?.algorithm);
  const line = (name: string, m: RecipePrediction | RecipeMeasurement) => [
    name,
    m.bitsPerWeight.toFixed(3),
    String(m.bytes),
    db(m.snrDb),
    m.meanKl === undefined ? "" : m.meanKl.toExponential(2),
    "top1" in m && m.top1 !== undefined ? `${(m.top1 * 100).toFixed(1)}%` : "",
  ];
  return [
    formatTable(["weight", "config", "bits", "alone: SNR dB", "alone: KL"], rows),
    "",
    formatTable(
      ["", "bits/weight", "bytes", "output SNR dB", "mean KL", "top-1"],
      [
        line("predicted", predicted),
        ...(measured ? [line(`measured (${summary.samples} samples)`, measured)] : []),
      ],
    ),
    neural
      ? `wrote ${summary.recipe}; apply it with: coreml-optimize quantize-weights ${summary.model} -o OUT.mlmodel --config ${summary.recipe}${summary.fitting ? ` --${summary.fitting}` : ""}${calibrates ? " and the same --data, --inputs or --samples (its data-aware layers calibrate on them)" : ""}`
      : `wrote ${summary.recipe}; apply it with: coreml-optimize compress ${summary.model} -o OUT.mlpackage --config ${summary.recipe}`,
  ].join("\n");
}
