import type { Command } from "commander";
import { inspectModel, type ModelSummary } from "../../analysis/inspect.js";
import { getWeightsMetadata, type WeightMetadata } from "../../analysis/weights-metadata.js";
import { parseInteger } from "../flags.js";
import { formatBytes, formatTable } from "../format.js";
import { printJson, withModel } from "../run.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a model's format, inputs and outputs, ops and every weight with its storage")
    .argument("<model>", ".mlpackage folder or .mlmodel file")
    .option("--weights", "read every weight: value statistics, sparsity, unique values, child ops")
    .option(
      "--weight-threshold <n>",
      "with --weights: only weights with more elements (default 2048)",
    )
    .option("--json", "print machine-readable JSON")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize inspect model.mlpackage
  coreml-optimize inspect model.mlmodel --weights --weight-threshold 0
  coreml-optimize inspect model.mlpackage --json`,
    )
    .action(async (path: string, options: InspectFlags) => {
      if (options.weights) {
        const weightThreshold = parseThreshold(options.weightThreshold);
        const metadata = await withModel(path, (model) =>
          getWeightsMetadata(model, { weightThreshold }),
        );
        const rows = [...metadata.values()].map(describeWeight);
        if (options.json) printJson(rows);
        else process.stdout.write(renderWeights(rows));
        return;
      }
      const summary = await withModel(path, inspectModel);
      if (options.json) printJson(summary);
      else process.stdout.write(renderSummary(path, summary));
    });
}

interface InspectFlags {
  json?: boolean;
  weights?: boolean;
  weightThreshold?: string;
}

function parseThreshold(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseInteger(text, "--weight-threshold");
}

/** Metadata without the values themselves, for printing. */
function describeWeight(w: WeightMetadata) {
  return {
    name: w.name,
    dtype: w.value.dtype,
    shape: w.value.shape,
    stats: w.stats,
    sparsity: w.sparsity,
    uniqueValues: w.uniqueValues,
    childOps: w.childOps,
  };
}

function renderWeights(rows: ReturnType<typeof describeWeight>[]): string {
  const number = (v: number) =>
    Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
  const table = formatTable(
    ["name", "dtype", "shape", "min", "max", "mean", "std", "sparsity", "unique", "child ops"],
    rows.map((w) => [
      w.name,
      w.dtype,
      `[${w.shape.join(",")}]`,
      number(w.stats.min),
      number(w.stats.max),
      number(w.stats.mean),
      number(w.stats.std),
      `${(w.sparsity * 100).toFixed(1)}%`,
      String(w.uniqueValues),
      w.childOps.map((c) => `${c.type} ${c.name}.${c.inputs.join("/")}`).join(", "),
    ]),
  );
  return `${table}\n`;
}

function renderSummary(path: string, s: ModelSummary): string {
  const out: string[] = [];
  out.push(`${path}`);
  out.push(
    `  format: ${s.format}, type: ${s.type}, specification version ${s.specificationVersion} (${s.deploymentTarget})`,
  );
  if (s.models.length > 1) {
    out.push("", "Models:");
    out.push(
      formatTable(
        ["path", "type", "spec"],
        s.models.map((m) => [m.path || "(root)", m.type, String(m.specificationVersion)]),
      ),
    );
  }
  out.push("", "Inputs:");
  out.push(...s.inputs.map((f) => `  ${f.name}: ${f.type}`));
  out.push("Outputs:");
  out.push(...s.outputs.map((f) => `  ${f.name}: ${f.type}`));
  if (s.states.length > 0) {
    out.push("States:");
    out.push(...s.states.map((f) => `  ${f.name}: ${f.type}`));
  }
  const several = new Set(s.functions.map((fn) => `${fn.model}/${fn.name}`)).size > 1;
  for (const fn of s.functions) {
    const where = fn.model ? `${fn.model}/` : "";
    const ops = Object.entries(fn.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const isDefault = several && !fn.model && fn.name === s.defaultFunction ? ", default" : "";
    out.push(
      "",
      `Function ${where}${fn.name} (${fn.opset}${isDefault}): ${ops.reduce((n, [, c]) => n + c, 0)} ops`,
    );
    // The model's inputs and outputs above are the default function's; others list their own.
    if (several) {
      for (const [title, list] of [
        ["inputs", fn.inputs],
        ["outputs", fn.outputs],
        ["states", fn.states],
      ] as const) {
        if (list.length > 0)
          out.push(`  ${title}: ${list.map((f) => `${f.name} ${f.type}`).join(", ")}`);
      }
    }
    out.push(`  ${ops.map(([type, count]) => `${type} ×${count}`).join(", ")}`);
  }
  if (s.weights.length > 0) {
    out.push("", "Weights:");
    out.push(
      formatTable(
        ["name", "consumers", "dtype", "shape", "storage", "dense", "stored"],
        s.weights.map((w) => [
          [w.model, several ? w.function : "", w.name].filter(Boolean).join("/"),
          w.consumers.join(", "),
          w.dtype,
          `[${w.shape.join(",")}]`,
          w.storage.length ? w.storage.map((step) => step.description).join(" ← ") : "dense",
          formatBytes(w.denseBytes),
          formatBytes(w.storedBytes),
        ]),
        ["left", "left", "left", "left", "left", "right", "right"],
      ),
    );
  }
  const t = s.totals;
  const ratio =
    t.compressed > 0 && t.storedBytes > 0
      ? ` (${(t.denseBytes / t.storedBytes).toFixed(2)}× smaller)`
      : "";
  out.push(
    "",
    `Total: ${t.weights} weights, ${t.compressed} compressed; ${formatBytes(t.denseBytes)} dense, ${formatBytes(t.storedBytes)} stored${ratio}; weight files ${formatBytes(t.weightFileBytes)}`,
  );
  return `${out.join("\n")}\n`;
}
